"""The chaos of `bench.chaos`: gateway faults, worker SIGKILLs and a PostgreSQL restart.

Events are planned up front from a seed (reproducible schedule) and spread over the
window in which payments are being started, so every kind of event lands while
workflows are mid-saga. Blocking process control runs in a thread so the load's event
loop keeps starting and watching payments meanwhile.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.environment import BenchEnvironment
from paysaga.config.settings import Settings

# The gateways' SDK read timeout is 10 s (gateways/*_gateway.py): a withheld response
# must hang longer, so the client sees a timeout after the charge was made.
SDK_READ_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class GatewayFaults:
    error_rate: float = 0.20  # 500 before any side effect
    timeout_after_success_rate: float = 0.05
    rate_limit_rate: float = 0.05  # 429 with Retry-After
    retry_after_s: float = 1.0
    timeout_hang_s: float = SDK_READ_TIMEOUT_S + 2.0
    webhook_delay_s: float = 0.3
    webhook_duplicate_rate: float = 0.3
    webhook_reorder_rate: float = 0.3

    def config(self, webhook_url: str, seed: int) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "rate_limit_rate": self.rate_limit_rate,
            "retry_after_s": self.retry_after_s,
            "timeout_after_success_rate": self.timeout_after_success_rate,
            "timeout_hang_s": self.timeout_hang_s,
            "webhook_url": webhook_url,
            "webhook_delay_s": self.webhook_delay_s,
            "webhook_duplicate_rate": self.webhook_duplicate_rate,
            "webhook_reorder_rate": self.webhook_reorder_rate,
            "seed": seed,
        }


def webhook_targets(settings: Settings) -> dict[str, str]:
    """Sandbox base URL -> the API's webhook route for that gateway."""
    api = f"http://127.0.0.1:{settings.api_port}/webhooks"
    return {settings.stripe_base(): f"{api}/stripe", settings.braintree_base(): f"{api}/braintree"}


async def configure_faults(settings: Settings, faults: GatewayFaults | None, seed: int) -> None:
    """Turn faults on (or off with None); webhooks keep reaching the API either way."""
    async with httpx.AsyncClient(timeout=10) as http:
        for offset, (base, hook) in enumerate(webhook_targets(settings).items()):
            body = faults.config(hook, seed + offset) if faults else {"webhook_url": hook}
            response = await http.post(f"{base}/__sandbox/faults", json=body)
            response.raise_for_status()


@dataclass(frozen=True)
class ChaosEvent:
    at_s: float  # after the load began
    kind: str  # "kill_worker" | "restart_postgres"
    pause_s: float  # how long the victim stays down


@dataclass
class ChaosLog:
    worker_kills: int = 0
    postgres_restarts: int = 0
    events: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def plan_events(kills: int, postgres_restarts: int, window_s: float, seed: int) -> list[ChaosEvent]:
    """Random moments inside the window (its first and last 5% left calm)."""
    dice = random.Random(seed)
    events = [
        ChaosEvent(dice.uniform(0.05, 0.95) * window_s, "kill_worker", dice.uniform(0.2, 2.0))
        for _ in range(kills)
    ]
    events += [
        ChaosEvent(dice.uniform(0.25, 0.75) * window_s, "restart_postgres", dice.uniform(1.0, 3.0))
        for _ in range(postgres_restarts)
    ]
    return sorted(events, key=lambda e: e.at_s)


async def run_chaos(
    env: BenchEnvironment, events: list[ChaosEvent], seed: int, log: ChaosLog
) -> None:
    """Apply the events in order; one at a time, so at least one worker always lives."""
    dice = random.Random(seed + 1)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for event in events:
        delay = began + event.at_s - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        moment = loop.time() - began
        try:
            if event.kind == "kill_worker":
                victim = dice.randrange(len(env.workers.processes))
                await asyncio.to_thread(_kill_and_restart, env, victim, event.pause_s)
                log.worker_kills += 1
                log.events.append(f"{moment:7.1f}s SIGKILL worker-{victim}, back after restart")
            else:
                await asyncio.to_thread(_restart_postgres, env, event.pause_s)
                log.postgres_restarts += 1
                log.events.append(f"{moment:7.1f}s PostgreSQL crashed (immediate stop), restarted")
        except Exception as exc:  # reported as a violation: the chaos did not happen
            log.errors.append(f"{event.kind} at {moment:.1f}s failed: {exc!r}")


def _kill_and_restart(env: BenchEnvironment, index: int, pause_s: float) -> None:
    env.workers.kill(index)
    time.sleep(pause_s)
    env.workers.restart(index)


def _restart_postgres(env: BenchEnvironment, pause_s: float) -> None:
    postgres = env.stack.postgres
    if postgres is None:
        raise RuntimeError("the ledger PostgreSQL is not embedded; cannot restart it")
    # "immediate" is a crash: no checkpoint, clients cut off, WAL recovery on start.
    postgres.stop(mode="immediate")
    time.sleep(pause_s)
    postgres.start()
