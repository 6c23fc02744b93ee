"""Payments benchmark: `python -m bench.payments [--count 1000] [--rate 0] [--json FILE]`.

Starts an isolated embedded stack (bench.environment) and N worker processes, then in
one run on the same server and workers:

1. a sample of payments (warm-up), whose histories give the task queue of every activity
   a plain and a refunded payment of each gateway schedules;
2. the baseline: one BaselineWorkflow per payment with exactly those activities, doing
   nothing (workflows/baseline.py);
3. the payments through PaysagaClient, with a share refunded;
4. the baseline again. The dev server's SQLite grows and the machine may be shared, so a
   baseline taken only before the payments would favour it; the ratio uses the mean of
   the baselines before and after.

Both loads start at `--rate` per second, or as fast as the client can (rate 0, the
default), so the ratio compares capacities rather than the offered rate. Throughput is
completed / (last done - first start) on the server's clock. `--tune all` then runs
short variants (ledger postings as activity tasks, worker concurrency, sticky cache, SQLite
pragmas) and prints the effect of each against the default.

The gateway rate limits are raised for the benchmark (PAYSAGA_WORKER_*_RATE=500): the
defaults (25/s, Stripe test mode) would measure the limiter, not the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.baseline import BaselineResult, run_baseline_load
from bench.environment import BenchEnvironment, bench_environment
from bench.load import LoadResult, PlannedPayment, plan_payments, run_payment_load
from paysaga.config.logging import configure_logging
from paysaga.config.temporal import connect_client
from paysaga.domain.routing import DEFAULT_ROUTING, Routing
from workers.build import build_workers
from workers.deps import Dependencies

REMOTE_LEDGER = Routing(local_ledger=False)
GATEWAY_RATES = {"PAYSAGA_WORKER_STRIPE_RATE": "500", "PAYSAGA_WORKER_BRAINTREE_RATE": "500"}
SAMPLE_COUNT = 6  # with a third refunded: plain and refunded payments of both gateways
MB = 1024 * 1024


@dataclass
class RunFigures:
    """One measured load (payments or baseline)."""

    count: int
    completed: int
    per_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    cpu_s_per_item: float
    peak_in_flight: int
    errors: int

    @classmethod
    def of(cls, result: LoadResult | BaselineResult, count: int, cpu_s: float) -> RunFigures:
        pct = result.latency_percentiles()
        return cls(
            count=count,
            completed=result.completed,
            per_s=round(result.throughput_per_s, 2),
            p50_s=round(pct["p50"], 3),
            p95_s=round(pct["p95"], 3),
            p99_s=round(pct["p99"], 3),
            cpu_s_per_item=round(cpu_s / count, 4) if count else 0.0,
            peak_in_flight=result.peak_in_flight(),
            errors=len(result.errors),
        )


@dataclass
class BenchFigures:
    workers: int
    shards: int
    count: int
    rate: float
    refund_share: float
    activities_per_payment: float
    payments: RunFigures
    baseline: RunFigures | None  # before the payments
    baseline_after: RunFigures | None  # after them
    ratio: float | None  # payments per s / mean of the two baselines' per s
    peak_worker_rss_mb: float  # the largest worker process's high-water mark
    idle_rss_mb: float  # all workers, summed, after the warm-up
    peak_rss_mb: float  # all workers, summed, highest sample during the payments
    mb_per_in_flight: float | None
    # CPU seconds per payment (and per baseline workflow) of each process of the stack.
    cpu_by_process: dict[str, dict[str, float]] = field(default_factory=dict)
    local_ledger: bool = True  # ledger postings as local activities (the default)
    # Activity attempts after the first plus timed-out or failed tasks, over all payments.
    retries: int = 0
    lost: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def baseline_plans(
    sample: Sequence[PlannedPayment], plans: Sequence[PlannedPayment]
) -> list[tuple[str, ...]]:
    """For every planned payment, the task queues a sampled payment like it used."""
    by_kind: dict[tuple[str, bool], Counter[tuple[str, ...]]] = {}
    for done in sample:
        if done.activity_queues:
            by_kind.setdefault((done.gateway, done.refund), Counter())[done.activity_queues] += 1
    if not by_kind:
        raise RuntimeError("no sampled payment finished; cannot size the baseline")
    fallback = next(iter(by_kind.values())).most_common(1)[0][0]
    return [
        by_kind[(p.gateway, p.refund)].most_common(1)[0][0]
        if (p.gateway, p.refund) in by_kind
        else fallback
        for p in plans
    ]


async def measure(
    env: BenchEnvironment,
    *,
    count: int,
    rate: float,
    refund_share: float,
    baseline: bool = True,
    routing: Routing | None = None,
    eager_start: bool = False,
    in_process_worker: bool = False,
    say: Any = print,
) -> BenchFigures:
    temporal = await connect_client(env.settings)
    if not in_process_worker:
        return await _measure(
            env, temporal, count, rate, refund_share, baseline, routing, eager_start, say
        )
    # Eager start needs a workflow worker on the very Client that starts the workflow.
    # It is a payments worker like any other, so it hosts the ledger postings too.
    deps = await Dependencies.open(env.settings, gateways=False, ledger=True)
    try:
        [worker] = build_workers(temporal, env.settings, ["payments"], deps)
        async with worker:
            return await _measure(
                env, temporal, count, rate, refund_share, baseline, routing, eager_start, say
            )
    finally:
        await deps.close()


async def _measure(
    env: BenchEnvironment,
    temporal: Client,
    count: int,
    rate: float,
    refund_share: float,
    baseline: bool,
    routing: Routing | None,
    eager_start: bool,
    say: Any,
) -> BenchFigures:
    settings = env.settings
    pool = env.workers
    # The baseline needs both gateways, plain and refunded; without it, two just warm up.
    # Sampled with remote ledger postings (local activities leave no ActivityTaskScheduled),
    # so the baseline has every activity of the saga as a no-op activity task.
    warmup = SAMPLE_COUNT if baseline else 2
    say(f"warm-up: {warmup} payments to learn their activities")
    sample = await run_payment_load(
        temporal,
        settings,
        count=warmup,
        rate=0,
        refund_share=1 / 3,
        eager_start=eager_start,
        routing=REMOTE_LEDGER,
    )
    plans = plan_payments(count, refund_share, "plan")
    queues = baseline_plans(sample.payments, plans)
    activities = sum(len(q) for q in queues) / len(queues) if queues else 0.0

    by_process: dict[str, dict[str, float]] = {}
    errors: list[str] = []  # the baselines' client errors (retried), after the payments'

    async def run_baseline(label: str) -> RunFigures | None:
        if not baseline:
            return None
        say(f"{label}: {count} workflows x {activities:.2f} no-op activities")
        before_all = env.cpu_seconds_by_process()
        done = await run_baseline_load(temporal, queues, rate=rate)
        by_process[label] = _per_item(before_all, env.cpu_seconds_by_process(), count)
        errors.extend(done.errors[:20])
        return RunFigures.of(done, count, by_process[label]["workers"] * count)

    base = await run_baseline("baseline")

    idle = pool.rss_bytes()
    peak = idle

    def tick(done: int, total: int) -> None:
        nonlocal peak
        peak = max(peak, pool.rss_bytes())

    say(f"payments: {count} through PaysagaClient, {refund_share:.0%} refunded")
    before_all = env.cpu_seconds_by_process()
    result = await run_payment_load(
        temporal,
        settings,
        count=count,
        rate=rate,
        refund_share=refund_share,
        routing=routing,
        eager_start=eager_start,
        on_tick=tick,
    )
    by_process["payments"] = _per_item(before_all, env.cpu_seconds_by_process(), count)
    pay_cpu = by_process["payments"]["workers"] * count
    tick(0, 0)
    payments = RunFigures.of(result, count, pay_cpu)
    base_after = await run_baseline("baseline_after")
    bases = [b.per_s for b in (base, base_after) if b is not None and b.per_s]
    ratio = payments.per_s / (sum(bases) / len(bases)) if bases else None
    in_flight = payments.peak_in_flight
    return BenchFigures(
        workers=len(pool.processes),
        shards=settings.shard_count,
        count=count,
        rate=rate,
        refund_share=refund_share,
        activities_per_payment=round(activities, 2),
        payments=payments,
        baseline=base,
        baseline_after=base_after,
        ratio=round(ratio, 3) if ratio is not None else None,
        peak_worker_rss_mb=round(pool.peak_rss_bytes() / MB, 1),
        idle_rss_mb=round(idle / MB, 1),
        peak_rss_mb=round(peak / MB, 1),
        mb_per_in_flight=round((peak - idle) / MB / in_flight, 3) if in_flight else None,
        cpu_by_process=by_process,
        local_ledger=(routing or DEFAULT_ROUTING).local_ledger,
        retries=sum(p.retries for p in result.payments),
        lost=[p.payment_id or p.idempotency_key for p in result.payments if not p.done],
        errors=result.errors[:20] + errors,
    )


def _per_item(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
    return {name: round((after[name] - before.get(name, 0.0)) / count, 4) for name in after}


# ---------------------------------------------------------------- tunings


@dataclass(frozen=True)
class Variant:
    name: str
    why: str
    worker_env: dict[str, str] = field(default_factory=dict)
    routing: Routing | None = None
    sqlite_pragmas: tuple[str, ...] | None = None  # None: the same server as the default
    in_process_worker: bool = False
    eager_start: bool = False


VARIANTS: tuple[Variant, ...] = (
    Variant(
        "default",
        "as shipped: local ledger postings, 100 activity / workflow-task slots, 4000 cached",
    ),
    Variant(
        "remote_ledger",
        "ledger postings as activity tasks on the ledger queue (Routing(local_ledger=False))",
        routing=REMOTE_LEDGER,
    ),
    Variant(
        "concurrency_20",
        "20 activity and workflow-task slots per worker",
        {
            "PAYSAGA_WORKER_MAX_CONCURRENT_ACTIVITIES": "20",
            "PAYSAGA_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "20",
        },
    ),
    Variant(
        "concurrency_400",
        "400 activity and workflow-task slots per worker",
        {
            "PAYSAGA_WORKER_MAX_CONCURRENT_ACTIVITIES": "400",
            "PAYSAGA_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "400",
        },
    ),
    Variant(
        "no_sticky_cache",
        "max_cached_workflows=0: every workflow task replays the history",
        {"PAYSAGA_WORKER_MAX_CACHED_WORKFLOWS": "0"},
    ),
    Variant(
        "in_process_worker",
        "plus a workflow worker in the driver process (the control for eager_start)",
        in_process_worker=True,
    ),
    Variant(
        "eager_start",
        "in-process workflow worker and request_eager_start on every start",
        in_process_worker=True,
        eager_start=True,
    ),
    Variant(
        "sqlite_sync_off",
        "dev server SQLite synchronous=off (default: WAL, synchronous=normal)",
        sqlite_pragmas=("journal_mode=wal", "synchronous=off"),
    ),
    Variant(
        "sqlite_rollback_journal",
        "dev server SQLite journal_mode=delete, synchronous=full (SQLite's defaults)",
        sqlite_pragmas=("journal_mode=delete", "synchronous=full"),
    ),
)


def pick_variants(spec: str) -> list[Variant]:
    if spec == "all":
        return list(VARIANTS)
    wanted = {name.strip() for name in spec.split(",") if name.strip()} | {"default"}
    unknown = wanted - {v.name for v in VARIANTS}
    if unknown:
        raise SystemExit(f"unknown tuning(s) {sorted(unknown)}; have {[v.name for v in VARIANTS]}")
    return [v for v in VARIANTS if v.name in wanted]


def run_tunings(
    variants: Sequence[Variant], *, count: int, workers: int, shards: int, refund_share: float
) -> dict[str, dict[str, Any]]:
    """Each variant's payments alone (no baseline), on one stack unless it needs its own."""
    out: dict[str, dict[str, Any]] = {}
    same_server = [v for v in variants if v.sqlite_pragmas is None]
    own_server = [v for v in variants if v.sqlite_pragmas is not None]
    with bench_environment(
        workers=workers,
        shard_count=shards,
        worker_env=dict(GATEWAY_RATES),
        progress=False,
        with_api=False,
    ) as env:
        for variant in same_server:
            env.workers.restart_all({**GATEWAY_RATES, **variant.worker_env})
            out[variant.name] = _tuned(env, variant, count, refund_share)
    for variant in own_server:
        assert variant.sqlite_pragmas is not None
        with bench_environment(
            workers=workers,
            shard_count=shards,
            worker_env={**GATEWAY_RATES, **variant.worker_env},
            sqlite_pragmas=variant.sqlite_pragmas,
            progress=False,
            with_api=False,
        ) as env:
            out[variant.name] = _tuned(env, variant, count, refund_share)
    return out


def _tuned(env: BenchEnvironment, variant: Variant, count: int, share: float) -> dict[str, Any]:
    print(f"  tuning {variant.name}: {variant.why}", flush=True)
    figures = asyncio.run(
        measure(
            env,
            count=count,
            rate=0,
            refund_share=share,
            baseline=False,
            routing=variant.routing,
            eager_start=variant.eager_start,
            in_process_worker=variant.in_process_worker,
            say=_quiet,
        )
    )
    return {"why": variant.why, **_as_dict(figures)}


# ---------------------------------------------------------------- output


def _as_dict(figures: BenchFigures) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(figures)


def print_figures(figures: BenchFigures) -> None:
    pay, base, after = figures.payments, figures.baseline, figures.baseline_after
    rows = [("baseline (no-op activities)", base), ("payments", pay), ("baseline again", after)]
    print(
        f"\n{figures.count} payments, {figures.workers} worker(s), {figures.shards} shard(s), "
        f"{figures.activities_per_payment} activities per payment, "
        f"rate {'max' if figures.rate <= 0 else f'{figures.rate:g}/s'}"
        + ("" if figures.local_ledger else ", ledger postings as activity tasks")
    )
    print(f"{'load':<30}{'per s':>8}{'p50 s':>8}{'p95 s':>8}{'p99 s':>8}{'CPU s/each':>12}")
    for name, run in rows:
        if run is None:
            continue
        print(
            f"{name:<30}{run.per_s:>8.1f}{run.p50_s:>8.2f}{run.p95_s:>8.2f}{run.p99_s:>8.2f}"
            f"{run.cpu_s_per_item:>12.4f}"
        )
    if figures.ratio is not None:
        verdict = "meets" if figures.ratio >= 0.7 else "misses"
        print(f"ratio payments / mean baseline: {figures.ratio:.2f} ({verdict} the 0.7 target)")
    print(
        f"worker memory: peak {figures.peak_worker_rss_mb:.0f} MB (largest process), "
        f"{figures.idle_rss_mb:.0f} MB idle -> {figures.peak_rss_mb:.0f} MB under load (all)"
    )
    if figures.cpu_by_process:
        names = list(next(iter(figures.cpu_by_process.values())))
        print("CPU s per item by process: " + "  ".join(f"{n:>9}" for n in names))
        for load, cpu in figures.cpu_by_process.items():
            print(f"  {load:<24}" + "  ".join(f"{cpu.get(n, 0.0):>9.4f}" for n in names))
    print(f"retried work (activity attempts, timed-out/failed tasks): {figures.retries}")
    if figures.lost:
        print(f"NOT DONE: {len(figures.lost)} payments, e.g. {figures.lost[:3]}")
    if figures.errors:
        print(f"client errors (retried): {len(figures.errors)}, e.g. {figures.errors[0]}")


def print_tunings(tunings: dict[str, dict[str, Any]]) -> None:
    default = tunings.get("default", {}).get("payments", {})
    print(f"\n{'tuning':<26}{'payments/s':>11}{'vs default':>11}{'p99 s':>8}{'CPU s/pay':>11}")
    for name, figures in tunings.items():
        pay = figures["payments"]
        base = default.get("per_s") or math.nan
        print(
            f"{name:<26}{pay['per_s']:>11.1f}{pay['per_s'] / base:>11.2f}"
            f"{pay['p99_s']:>8.2f}{pay['cpu_s_per_item']:>11.4f}"
        )


def _quiet(message: str) -> None:
    return None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.payments", description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.0, help="starts per second; 0: max")
    parser.add_argument("--refund-share", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument(
        "--remote-ledger",
        action="store_true",
        help="payments post to the ledger with activity tasks, not local activities",
    )
    parser.add_argument(
        "--tune",
        default="",
        help="'all' or a comma list of variants to compare: " + ", ".join(v.name for v in VARIANTS),
    )
    parser.add_argument("--tune-count", type=int, default=300, help="payments per variant")
    args = parser.parse_args(argv)
    configure_logging("console", "WARNING")

    # The payments go through PaysagaClient directly: no HTTP API process needed.
    with bench_environment(
        workers=args.workers,
        shard_count=args.shards,
        worker_env=dict(GATEWAY_RATES),
        with_api=False,
    ) as env:
        figures = asyncio.run(
            measure(
                env,
                count=args.count,
                rate=args.rate,
                refund_share=args.refund_share,
                routing=REMOTE_LEDGER if args.remote_ledger else None,
            )
        )
    print_figures(figures)
    out: dict[str, Any] = {
        "gateway_rates": GATEWAY_RATES,
        **_as_dict(figures),
    }
    if args.tune:
        print(f"\ntunings: {args.tune_count} payments each, rate max, no baseline")
        tunings = run_tunings(
            pick_variants(args.tune),
            count=args.tune_count,
            workers=args.workers,
            shards=args.shards,
            refund_share=args.refund_share,
        )
        print_tunings(tunings)
        out["tunings"] = tunings
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return out


if __name__ == "__main__":
    main()
