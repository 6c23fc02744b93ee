"""`python -m bench.chaos`: the payment load while everything around it breaks.

While N payments run through the real client (a share fully refunded), worker
processes are SIGKILLed and restarted, the ledger PostgreSQL crashes and restarts once,
and the faithful sandboxes (Braintree without idempotency, searches that lag up to
5 s) answer 5xx, 429, time out after succeeding, finish requests after the client gave
up (late_success), answer malformed 200s, fail refunds after accepting them, time out
captures after success, and deliver webhooks twice and out of order. Each card gateway
is down for `--gateway-outage` seconds (default 60) and the busiest ledger shard for
`--shard-outage` seconds (default 120). `--no-new-faults` runs the older, kinder mix.
Afterwards, with faults off, a quiet period for what lands late, and the sandboxes
settled, it reconciles and checks (bench/chaos_checks.py): every payment terminal; as
many charges at the gateways (all of them, listed from the sandboxes) as captured
payments in the ledger, one per payment, none orphaned; captured and refunded per
payment equal at gateway and ledger; no hold or authorization left open; reconciliation
without exceptions; `paysaga ledger verify` passes. Exit 1 naming every violation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import chaos_checks as checks
from bench.chaos_monkey import (
    ChaosLog,
    GatewayFaults,
    configure_faults,
    plan_events,
    quiet_period_s,
    run_chaos,
    run_outages,
)
from bench.environment import BenchEnvironment, bench_environment
from bench.load import LoadResult, run_payment_load
from paysaga.client.client import PaysagaClient
from paysaga.config.logging import configure_logging
from paysaga.config.settings import Settings
from paysaga.config.temporal import connect_client
from paysaga.domain.reconciliation import ReconciliationReport

# Issue 13's faults (search lag, late_success, malformed_response, refund failures,
# capture timeouts) are on by default: the sandboxes behave as the providers do.
# --no-new-faults runs the older, kinder fault mix for comparison.
NEW_FAULTS_DEFAULT = True


@dataclass(frozen=True)
class ChaosConfig:
    count: int = 1000
    rate: float = 20.0
    kills: int = 10
    workers: int = 2
    postgres_restarts: int = 1
    refund_share: float = 0.2  # every 5th payment: refunds on both gateways
    shard_count: int = 2
    seed: int = field(default_factory=lambda: random.randrange(1 << 30))
    timeout_s: float = 900.0
    faults: GatewayFaults = field(default_factory=GatewayFaults)
    new_faults: bool = NEW_FAULTS_DEFAULT
    gateway_outage_s: float = 60.0  # each card gateway down this long (0: none)
    shard_outage_s: float = 120.0  # the busiest ledger shard down this long (0: none)

    @property
    def window_s(self) -> float:
        """When payments are being started: where the chaos lands."""
        return self.count / self.rate


@dataclass
class ChaosReport:
    config: ChaosConfig
    wall_s: float
    load_s: float
    violations: list[str]
    figures: dict[str, Any]
    chaos: ChaosLog

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "config": asdict(self.config),
            "wall_s": round(self.wall_s, 1),
            "load_s": round(self.load_s, 1),
            "figures": self.figures,
            "chaos": asdict(self.chaos),
            "violations": self.violations,
        }


# Extra gateway concurrency so the per-gateway rate limit is not what the run measures.
WORKER_ENV = {"PAYSAGA_WORKER_STRIPE_RATE": "200", "PAYSAGA_WORKER_BRAINTREE_RATE": "200"}


async def run_chaos_bench(
    env: BenchEnvironment, config: ChaosConfig, say: Any = print
) -> ChaosReport:
    began = time.monotonic()
    settings = env.settings
    temporal = await connect_client(settings)
    await configure_faults(settings, config.faults, config.seed)
    chaos_log = ChaosLog()
    events, outages = plan_events(
        config.kills,
        config.postgres_restarts,
        config.window_s,
        config.seed,
        config.gateway_outage_s,
        config.shard_outage_s,
    )
    say(f"chaos: {len(events)} events over the first {config.window_s:.0f}s, seed {config.seed}")
    chaos = asyncio.gather(
        run_chaos(env, events, config.seed, chaos_log),
        run_outages(settings, outages, config.faults, config.seed, chaos_log),
    )
    first_day = datetime.now(UTC).date()
    try:
        load = await run_payment_load(
            temporal,
            settings,
            count=config.count,
            rate=config.rate,
            refund_share=config.refund_share,
            timeout_s=config.timeout_s,
            on_tick=_ticker(say),
        )
    finally:
        # The chaos is inside the start window; never leave a worker dead behind us.
        await chaos
    say(f"load done in {load.wall_s:.0f}s; faults off, settling, reconciling, auditing")
    await configure_faults(settings, None, config.seed)
    quiet = quiet_period_s(config.faults)
    if quiet:
        say(f"waiting {quiet:.0f}s for late successes, failing refunds and search lag")
        await asyncio.sleep(quiet)
    findings = checks.Findings()
    await _settle(settings)
    client = PaysagaClient(temporal)
    reports = await _reconcile(client, {first_day, datetime.now(UTC).date()}, findings)
    stats = await checks.sandbox_stats(settings)
    holdings = checks.gateway_holdings(stats)
    books = await checks.ledger_books(settings.shard_urls())
    statuses, failed_reasons = await checks.final_statuses(client, load.payments)
    findings.figures["failed_reasons"] = failed_reasons
    checks.check_payments(findings, load.payments, statuses, holdings, books)
    checks.check_totals(findings, load.payments, holdings, books)
    checks.check_reconciliation(findings, reports)
    checks.check_ledger_verify(findings, *await checks.ledger_verify())
    _check_chaos(findings, config, chaos_log)
    findings.figures.update(_load_figures(load), gateways=_gateway_figures(stats))
    return ChaosReport(
        config,
        time.monotonic() - began,
        load.wall_s,
        findings.violations,
        findings.figures,
        chaos_log,
    )


def _ticker(say: Any) -> Any:
    last = [0.0]

    def tick(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 10 or done == total:
            last[0] = now
            say(f"  {done}/{total} payments done")

    return tick


async def _settle(settings: Settings) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for base in (settings.stripe_base(), settings.braintree_base()):
            (await http.post(f"{base}/__sandbox/settle", json={})).raise_for_status()


async def _reconcile(
    client: PaysagaClient, days: set[date], findings: checks.Findings
) -> list[ReconciliationReport]:
    reports = []
    for day in sorted(days):
        try:
            started = await client.reconcile(day)
            reports.append(await client.reconciliation_result(started.reconciliation_id))
        except Exception as exc:  # a reconciliation that cannot finish is a violation
            findings.fail(f"reconciliation of {day} did not complete: {exc!r}")
    return reports


def _check_chaos(findings: checks.Findings, config: ChaosConfig, log: ChaosLog) -> None:
    """The run only proves something if the chaos really happened."""
    for error in log.errors:
        findings.fail(f"chaos: {error}")
    if log.worker_kills < config.kills:
        findings.fail(f"chaos: {log.worker_kills} of {config.kills} worker kills happened")
    if log.postgres_restarts < config.postgres_restarts:
        findings.fail(f"chaos: {log.postgres_restarts} PostgreSQL restarts happened")
    outages = 2 * bool(config.gateway_outage_s) + bool(config.shard_outage_s)
    if log.gateway_outages < outages:
        findings.fail(f"chaos: {log.gateway_outages} of {outages} outages happened")


def _load_figures(load: LoadResult) -> dict[str, Any]:
    return {
        "payments": len(load.payments),
        "started": sum(1 for p in load.payments if p.payment_id),
        "refunds_planned": sum(1 for p in load.payments if p.refund),
        "load_wall_s": round(load.wall_s, 1),
        "payments_per_s": round(load.payments_per_s, 2),
        "latency_s": {k: round(v, 2) for k, v in load.latency_percentiles().items()},
        "client_retries": len(load.errors),
        # What the client saw go wrong (retried with the same key), newest last.
        "client_error_samples": [e[:300] for e in load.errors[-30:]],
    }


def _gateway_figures(stats: dict[str, dict[str, Any]]) -> dict[str, Any]:
    keys = ("faults", "webhooks_queued", "idempotent_replays", "charges_created")
    return {name: {k: s[k] for k in keys if k in s} for name, s in stats.items()}


def print_report(report: ChaosReport) -> None:
    f = report.figures
    recon = f.get("reconciliation", {})
    lines = [
        "",
        f"bench.chaos: {f.get('payments')} payments, seed {report.config.seed}, "
        f"{report.wall_s:.0f}s total ({report.load_s:.0f}s load)",
        f"  chaos:          {report.chaos.worker_kills} worker SIGKILLs, "
        f"{report.chaos.postgres_restarts} PostgreSQL restart(s), "
        f"{report.chaos.gateway_outages} outage(s)",
        *(f"                  {event}" for event in report.chaos.events),
        "  faults seen:    "
        + "; ".join(f"{g}: {v.get('faults')}" for g, v in f.get("gateways", {}).items()),
        f"  statuses:       {f.get('statuses')}",
        f"  latency:        {f.get('latency_s')}  ({f.get('payments_per_s')} payments/s)",
        f"  charges:        gateways {f.get('gateway_charges')}, "
        f"ledger captured payments {f.get('ledger_captured_payments')}",
        f"  captured minor: gateways {f.get('gateway_captured_minor')}, "
        f"ledger {f.get('ledger_captured_minor')}",
        f"  refunded minor: gateways {f.get('gateway_refunded_minor')}, "
        f"ledger {f.get('ledger_refunded_minor')} ({f.get('refunded_payments')} payments)",
        f"  reconciliation: {recon.get('matched')} matched, {recon.get('exceptions')} exceptions",
        f"  ledger verify:  {f.get('ledger_verify')}",
        *(f"  failed:         {pid}: {why}" for pid, why in f.get("failed_reasons", {}).items()),
    ]
    print("\n".join(lines))
    if report.ok:
        print("OK: no lost payment, no double charge, books match the gateways")
        return
    print(f"FAILED: {len(report.violations)} violation(s)")
    for violation in report.violations:
        print(f"  - {violation}")


def parse_args(argv: list[str] | None) -> tuple[ChaosConfig, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="payments (default 1000)")
    parser.add_argument("--rate", type=float, default=20.0, help="payments started per second")
    parser.add_argument("--kills", type=int, default=10, help="worker SIGKILLs (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (>= 2)")
    parser.add_argument("--postgres-restarts", type=int, default=1)
    parser.add_argument("--refund-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the load")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--new-faults",
        action=argparse.BooleanOptionalAction,
        default=NEW_FAULTS_DEFAULT,
        help="issue 13's faults at its rates (search lag up to 5 s, late_success 5%%, "
        "malformed_response 1%%, refund failures 2%%, capture timeouts 5%%)",
    )
    parser.add_argument("--gateway-outage", type=float, default=60.0, metavar="SECONDS")
    parser.add_argument("--shard-outage", type=float, default=120.0, metavar="SECONDS")
    knobs = parser.add_argument_group("single faults (override --new-faults)")
    for name in _KNOBS:
        knobs.add_argument(f"--{name.replace('_', '-')}", type=float, default=None)
    args = parser.parse_args(argv)
    faults = GatewayFaults().with_new_faults() if args.new_faults else GatewayFaults()
    overrides = {name: getattr(args, name) for name in _KNOBS if getattr(args, name) is not None}
    if args.workers < 2 and args.kills:
        parser.error("--workers must be at least 2 so a kill never leaves the queues unpolled")
    config = ChaosConfig(
        count=args.count,
        rate=args.rate,
        kills=args.kills,
        workers=args.workers,
        postgres_restarts=args.postgres_restarts,
        refund_share=args.refund_share,
        timeout_s=args.timeout,
        faults=replace(faults, **overrides),
        new_faults=args.new_faults,
        gateway_outage_s=args.gateway_outage,
        shard_outage_s=args.shard_outage,
        **({"seed": args.seed} if args.seed is not None else {}),
    )
    return config, args.json


# GatewayFaults fields that are command-line knobs of their own.
_KNOBS = (
    "late_success_rate",
    "malformed_response_rate",
    "refund_pending_then_failed_rate",
    "refund_fail_after_s",
    "capture_timeout_after_success_rate",
    "search_lag_s",
    "search_lag_jitter_s",
)


def search_lag_env(faults: GatewayFaults) -> dict[str, str]:
    """The workers' search lag bounds (Settings.stripe/braintree_search_lag_s), set as
    an operator would for providers lagging as these sandboxes do."""
    bound = str(faults.search_lag_bound_s())
    return {"PAYSAGA_STRIPE_SEARCH_LAG_S": bound, "PAYSAGA_BRAINTREE_SEARCH_LAG_S": bound}


def run(config: ChaosConfig, progress: bool = True) -> ChaosReport:
    with bench_environment(
        workers=config.workers,
        shard_count=config.shard_count,
        worker_env={**WORKER_ENV, **search_lag_env(config.faults)},
        progress=progress,
        with_api=True,  # the webhook ingress: duplicated/reordered webhooks must land
    ) as env:
        say = print if progress else (lambda *_: None)
        return asyncio.run(run_chaos_bench(env, config, say))


def main(argv: list[str] | None = None) -> int:
    config, json_path = parse_args(argv)
    configure_logging("console", "WARNING")  # the client's per-payment logs drown the report
    report = run(config)
    print_report(report)
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_json(), indent=2, default=str))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
