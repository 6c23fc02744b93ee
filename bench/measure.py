"""One measured run of the payments benchmark (bench.payments): a warm-up sample, the
baseline before, the payments through PaysagaClient, the baseline after, and the figures.

bench.scale runs it too, without the baseline; bench.tunings runs it once per variant.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from temporalio.client import Client

from bench.baseline import BaselineResult, run_baseline_load
from bench.environment import BenchEnvironment
from bench.load import LoadResult, PlannedPayment, plan_payments, run_payment_load
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


def as_dict(figures: BenchFigures) -> dict[str, Any]:
    return asdict(figures)


def quiet(message: str) -> None:
    return None
