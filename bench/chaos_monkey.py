"""The chaos of `bench.chaos`: gateway faults, worker SIGKILLs, a PostgreSQL restart
and (when asked) an outage of each card gateway.

Events are planned up front from a seed (reproducible schedule) and spread over the
window in which payments are being started, so every kind of event lands while
workflows are mid-saga. Blocking process control runs in a thread so the load's event
loop keeps starting and watching payments meanwhile.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import httpx
import psycopg
from psycopg import sql

from bench.environment import BenchEnvironment
from paysaga.config.settings import Settings

# The gateways' SDK read timeout is 10 s (gateways/*_gateway.py): a withheld response
# must hang longer, so the client sees a timeout after the charge was made.
SDK_READ_TIMEOUT_S = 10.0
# The search lag bound's floor: searches themselves take time, and fail under the faults.
MIN_SEARCH_LAG_BOUND_S = 5.0


@dataclass(frozen=True)
class GatewayFaults:
    """The sandboxes' fault config for the run (paysaga/sandbox/README.md says what
    real behaviour each one imitates). The sandboxes are faithful whatever is set
    here: Braintree ignores idempotency headers, as the real API has none."""

    error_rate: float = 0.20  # 500 before any side effect
    timeout_after_success_rate: float = 0.05
    rate_limit_rate: float = 0.05  # 429 with Retry-After
    retry_after_s: float = 1.0
    timeout_hang_s: float = SDK_READ_TIMEOUT_S + 2.0
    webhook_delay_s: float = 0.3
    webhook_duplicate_rate: float = 0.3
    webhook_reorder_rate: float = 0.3
    # The faults of issue 13, off unless `with_new_faults` (or a knob) turns them on.
    late_success_rate: float = 0.0
    malformed_response_rate: float = 0.0
    refund_pending_then_failed_rate: float = 0.0
    refund_fail_after_s: float = 5.0
    capture_timeout_after_success_rate: float = 0.0
    search_lag_s: float = 0.0  # every new object: at least this long out of search...
    search_lag_jitter_s: float = 0.0  # ...plus up to this much more

    def config(self, webhook_url: str, seed: int) -> dict[str, Any]:
        body = asdict(self)
        body.update(webhook_url=webhook_url, seed=seed)
        return body

    def search_lag_bound_s(self) -> float:
        """The engine's search lag bound these faults call for (the workers' setting): the
        longest a charge can stay out of search after the client's request failed, i.e.
        a late success's hang past the SDK's timeout plus the search lag, with margin.
        Anything shorter would let a miss read as "not charged" while a charge is coming.
        """
        late = max(self.timeout_hang_s - SDK_READ_TIMEOUT_S, 0.0)
        return 2 * (late + self.search_lag_s + self.search_lag_jitter_s) + MIN_SEARCH_LAG_BOUND_S

    def with_new_faults(self) -> GatewayFaults:
        """The rates issue 13 names for bench.chaos (search lag up to 5 s, late_success
        5%, malformed_response 1%, refund failures 2%) and capture timeouts after
        success at the rate of the other timeouts."""
        return replace(
            self,
            late_success_rate=0.05,
            malformed_response_rate=0.01,
            refund_pending_then_failed_rate=0.02,
            capture_timeout_after_success_rate=self.timeout_after_success_rate,
            search_lag_s=0.0,
            search_lag_jitter_s=5.0,
        )


def webhook_targets(settings: Settings) -> dict[str, str]:
    """Sandbox base URL -> the API's webhook route for that gateway."""
    api = f"http://127.0.0.1:{settings.api_port}/webhooks"
    return {settings.stripe_base(): f"{api}/stripe", settings.braintree_base(): f"{api}/braintree"}


async def configure_faults(
    settings: Settings, faults: GatewayFaults | None, seed: int, only: str | None = None
) -> None:
    """Turn faults on (or off with None); webhooks keep reaching the API either way.
    `only`: one sandbox's base URL (the others keep their config)."""
    async with httpx.AsyncClient(timeout=10) as http:
        for offset, (base, hook) in enumerate(webhook_targets(settings).items()):
            if only is not None and base != only:
                continue
            body = faults.config(hook, seed + offset) if faults else {"webhook_url": hook}
            response = await http.post(f"{base}/__sandbox/faults", json=body)
            response.raise_for_status()


def quiet_period_s(faults: GatewayFaults) -> float:
    """How long after the load the gateways may still change what they hold: a late
    success lands after its hang, a failing refund fails after its delay, a new object
    becomes searchable after the lag. The audit waits that long before reading."""
    late = faults.timeout_hang_s if faults.late_success_rate else 0.0
    refunds = faults.refund_fail_after_s if faults.refund_pending_then_failed_rate else 0.0
    return late + refunds + faults.search_lag_s + faults.search_lag_jitter_s


@dataclass(frozen=True)
class ChaosEvent:
    at_s: float  # after the load began
    kind: str  # "kill_worker" | "restart_postgres" | "outage:stripe" | "outage:braintree"
    pause_s: float  # how long the victim stays down


@dataclass
class ChaosLog:
    worker_kills: int = 0
    postgres_restarts: int = 0
    gateway_outages: int = 0  # card gateways and ledger shards
    events: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def plan_events(
    kills: int,
    postgres_restarts: int,
    window_s: float,
    seed: int,
    outage_s: float = 0.0,
    shard_outage_s: float = 0.0,
) -> tuple[list[ChaosEvent], list[ChaosEvent]]:
    """Random moments inside the window (its first and last 5% left calm): the events
    applied one at a time, and the outages (`run_outages`) that overlap them."""
    dice = random.Random(seed)
    outages = [
        ChaosEvent(dice.uniform(0.1, 0.5) * window_s, f"outage:{gateway}", outage_s)
        for gateway in (("stripe", "braintree") if outage_s > 0 else ())
    ]
    if shard_outage_s > 0:
        outages.append(
            ChaosEvent(dice.uniform(0.1, 0.5) * window_s, "outage:shard", shard_outage_s)
        )
    events = [
        ChaosEvent(dice.uniform(0.05, 0.95) * window_s, "kill_worker", dice.uniform(0.2, 2.0))
        for _ in range(kills)
    ]
    events += [
        ChaosEvent(dice.uniform(0.25, 0.75) * window_s, "restart_postgres", dice.uniform(1.0, 3.0))
        for _ in range(postgres_restarts)
    ]
    return sorted(events, key=lambda e: e.at_s), outages


async def run_outages(
    settings: Settings, outages: list[ChaosEvent], faults: GatewayFaults, seed: int, log: ChaosLog
) -> None:
    """Each card gateway answers every request 500 for `pause_s`, then the run's faults
    are back. Outages overlap the other chaos, so they run beside it."""

    async def one(event: ChaosEvent) -> None:
        await asyncio.sleep(event.at_s)
        gateway = event.kind.split(":", 1)[1]
        if gateway == "shard":
            await shard_outage(settings, event, log)
            return
        base = settings.stripe_base() if gateway == "stripe" else settings.braintree_base()
        try:
            down = replace(faults, error_rate=1.0)
            await configure_faults(settings, down, seed, only=base)
            await asyncio.sleep(event.pause_s)
            await configure_faults(settings, faults, seed, only=base)
            log.gateway_outages += 1
            log.events.append(f"{event.at_s:7.1f}s {gateway} down for {event.pause_s:.0f}s")
        except Exception as exc:  # reported as a violation: the chaos did not happen
            log.errors.append(f"{event.kind} at {event.at_s:.1f}s failed: {exc!r}")

    await asyncio.gather(*(one(event) for event in outages))


async def shard_outage(settings: Settings, event: ChaosEvent, log: ChaosLog) -> None:
    """The shard holding most of the run's accounts refuses every connection for
    `pause_s` (its database stops allowing connections and its sessions are cut), while
    the other shards and the PostgreSQL server stay up. Most accounts, so the outage
    hits the payments' postings; if that is shard 0, its account directory goes too."""
    urls = settings.shard_urls()
    shard = urls[await _busiest_shard(urls[0])]
    server, _, name = shard.rpartition("/")
    try:
        await _allow_connections(f"{server}/postgres", name, False)
        await asyncio.sleep(event.pause_s)
        log.events.append(f"{event.at_s:7.1f}s ledger shard {name} down for {event.pause_s:.0f}s")
        log.gateway_outages += 1
    except Exception as exc:  # reported as a violation: the chaos did not happen
        log.errors.append(f"shard outage at {event.at_s:.1f}s failed: {exc!r}")
    finally:
        for _ in range(60):  # the PostgreSQL crash may be under way: keep trying
            try:
                await _allow_connections(f"{server}/postgres", name, True)
                break
            except psycopg.OperationalError:
                await asyncio.sleep(1)


async def _busiest_shard(directory_url: str) -> int:
    """The shard with the most accounts (ledger_directory lives on shard 0)."""
    async with await psycopg.AsyncConnection.connect(directory_url) as conn:
        cur = await conn.execute(
            "SELECT shard FROM ledger_directory GROUP BY shard ORDER BY count(*) DESC LIMIT 1"
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _allow_connections(admin_url: str, database: str, allow: bool) -> None:
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        flag = sql.SQL("true" if allow else "false")
        statement = sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}")
        await conn.execute(statement.format(sql.Identifier(database), flag))
        if not allow:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )


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
