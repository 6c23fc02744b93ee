"""The payment load of the benchmarks, driven through the real PaysagaClient.

Payments start at a target rate (or as fast as the client can, rate <= 0), alternate
between Stripe and Braintree, and a share of them is fully refunded once captured.
Progress is watched through Temporal visibility (a count and a short list per tick, not
a query per payment, so watching costs the workers nothing and the server little);
exact start-to-terminal times and the task queues of every activity are read from each
workflow's history afterwards.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from paysaga.client.client import PaysagaClient
from paysaga.client.ids import payment_id_for
from paysaga.config.settings import Settings
from paysaga.domain.payments import PaymentOptions
from paysaga.domain.routing import Routing
from paysaga.domain.status import PaymentStatus
from paysaga.sandbox import testdata

GATEWAYS = ("stripe", "braintree")
METHODS = {"stripe": testdata.STRIPE_PM_SUCCESS, "braintree": testdata.BRAINTREE_NONCE_SUCCESS}
# Where a payment's saga is done for the benchmark: the charge captured (or failed), and
# for the refunded share, the refund booked.
CHARGE_DONE = frozenset({PaymentStatus.CAPTURED, PaymentStatus.SETTLED, PaymentStatus.FAILED})
REFUND_DONE = frozenset({PaymentStatus.REFUNDED, PaymentStatus.FAILED})
WATCHED = CHARGE_DONE | REFUND_DONE | {PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.CANCELED}
START_WIDTH = 64  # concurrent start calls when starting as fast as possible


@dataclass
class PlannedPayment:
    index: int
    idempotency_key: str
    gateway: str
    amount_minor: int
    refund: bool
    payment_id: str = ""
    status: str = PaymentStatus.PENDING
    refund_requested: bool = False
    # The gateway failed the refund after accepting it: the payment stays charged.
    refund_failed: bool = False
    latency_s: float | None = None
    # From the history (server clock): started, done, and each activity's task queue.
    started_at: datetime | None = None
    done_at: datetime | None = None
    activity_queues: tuple[str, ...] = ()
    # Work the server and workers did again: activity attempts after the first, and
    # workflow or activity tasks that timed out or failed.
    retries: int = 0

    @property
    def done(self) -> bool:
        done = REFUND_DONE if self.refund else CHARGE_DONE
        return self.status in done


@dataclass
class LoadResult:
    run_id: str
    customer_id: str
    payments: list[PlannedPayment]
    wall_s: float
    completed: int
    errors: list[str] = field(default_factory=list)

    @property
    def payments_per_s(self) -> float:
        return self.completed / self.wall_s if self.wall_s else 0.0

    def latency_percentiles(self) -> dict[str, float]:
        return percentiles([p.latency_s for p in self.payments if p.latency_s is not None])

    @property
    def span_s(self) -> float:
        """First start to last done on the server's clock (no polling granularity)."""
        return span_s([(p.started_at, p.done_at) for p in self.payments])

    @property
    def throughput_per_s(self) -> float:
        span = self.span_s
        return self.completed / span if span else 0.0

    def peak_in_flight(self) -> int:
        return peak_overlap([(p.started_at, p.done_at) for p in self.payments])


Interval = tuple[datetime | None, datetime | None]


def span_s(intervals: Sequence[Interval]) -> float:
    starts = [a for a, b in intervals if a is not None and b is not None]
    ends = [b for a, b in intervals if a is not None and b is not None]
    if not starts:
        return 0.0
    return (max(ends) - min(starts)).total_seconds()


def peak_overlap(intervals: Sequence[Interval]) -> int:
    """Most intervals open at one instant (payments started and not yet done)."""
    edges = sorted(
        [(a, 1) for a, b in intervals if a is not None and b is not None]
        + [(b, -1) for a, b in intervals if a is not None and b is not None],
        key=lambda edge: (edge[0], edge[1]),  # a finish before a start at the same instant
    )
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def percentiles(values: Sequence[float], points: Sequence[int] = (50, 95, 99)) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {f"p{p}": float("nan") for p in points}
    # Nearest-rank: the smallest value with at least p% of samples at or below it.
    return {
        f"p{p}": ordered[max(0, min(len(ordered) - 1, -(-p * len(ordered) // 100) - 1))]
        for p in points
    }


def plan_payments(count: int, refund_share: float, run_id: str) -> list[PlannedPayment]:
    every = round(1 / refund_share) if refund_share > 0 else 0
    return [
        PlannedPayment(
            index=i,
            idempotency_key=f"{run_id}-{i}",
            gateway=GATEWAYS[i % len(GATEWAYS)],
            amount_minor=1000 + i,
            # Pairs of payments (one per gateway) are refunded, so both gateways refund.
            refund=bool(every) and (i // len(GATEWAYS)) % every == every - 1,
        )
        for i in range(count)
    ]


async def create_merchant(settings: Settings, name: str) -> str:
    from paysaga.client.control.db import control_engine
    from paysaga.client.control.merchants import MerchantStore

    engine = control_engine(settings.shard_urls()[0])
    try:
        return (await MerchantStore(engine).create_merchant(name)).merchant_id
    finally:
        await engine.dispose()


async def run_payment_load(
    temporal: Client,
    settings: Settings,
    *,
    count: int,
    rate: float,
    refund_share: float = 0.1,
    timeout_s: float = 600,
    poll_s: float = 0.5,
    on_tick: Callable[[int, int], None] | None = None,
    routing: Routing | None = None,
    eager_start: bool = False,
) -> LoadResult:
    """Start `count` payments at `rate`/s (rate <= 0: as fast as possible), refund a
    share, wait until all are done. `routing` opts into e.g. local ledger activities."""
    run_id = uuid.uuid4().hex[:10]
    customer_id = f"bench-{run_id}"
    merchant_id = await create_merchant(settings, f"bench-{run_id}")
    client = PaysagaClient(
        temporal, merchant_id=merchant_id, routing=routing, eager_start=eager_start
    )
    plans = plan_payments(count, refund_share, run_id)
    for plan in plans:
        plan.payment_id = payment_id_for(merchant_id, plan.idempotency_key)
    refund_ids = [p.payment_id for p in plans if p.refund]
    gate = asyncio.Semaphore(START_WIDTH if rate <= 0 or math.isinf(rate) else count or 1)
    by_id: dict[str, PlannedPayment] = {}
    errors: list[str] = []
    options = PaymentOptions(refund_window_s=3600)
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def start(plan: PlannedPayment) -> None:
        if rate > 0:
            await _sleep_until(began + plan.index / rate)
        async with gate:
            await start_one(plan)

    async def start_one(plan: PlannedPayment) -> None:
        for attempt in range(20):  # the client itself is not what we are measuring
            try:
                view = await client.create_payment(
                    idempotency_key=plan.idempotency_key,
                    amount_minor=plan.amount_minor,
                    currency="USD",
                    customer_id=customer_id,
                    payment_method=METHODS[plan.gateway],
                    gateway=plan.gateway,
                    options=options,
                )
                plan.payment_id = view.payment_id
                by_id[view.payment_id] = plan
                return
            except Exception as exc:  # counted, reported, retried with the same key
                errors.append(f"start {plan.idempotency_key} attempt {attempt}: {exc!r}")
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt))

    async def refund(plan: PlannedPayment) -> None:
        # Until the load's deadline, not a fixed count: on a saturated machine (or with
        # workers being killed) a payment's workflow may not answer for minutes, and a
        # refund given up on leaves the payment short of its terminal state.
        attempt = 0
        request_id = f"{plan.idempotency_key}-r"
        while True:
            try:
                await client.refund(plan.payment_id, plan.amount_minor, request_id=request_id)
                break
            except Exception as exc:  # same request id: retrying is safe
                errors.append(f"refund {plan.payment_id} attempt {attempt}: {exc!r}")
                if loop.time() > began + timeout_s:
                    return
                attempt += 1
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
        await outcome_of(plan, request_id)

    async def outcome_of(plan: PlannedPayment, request_id: str) -> None:
        """Until the refund settles the payment or the gateway fails it (a refund accepted
        pending may fail later: the payment is then done, charged, its refund failed)."""
        while loop.time() < began + timeout_s:
            try:
                view = await client.get_payment(plan.payment_id)
            except Exception as exc:  # a busy or restarting worker: ask again
                errors.append(f"view {plan.payment_id}: {exc!r}")
            else:
                if view.status == PaymentStatus.REFUNDED:
                    return
                if any(r.request_id == request_id and r.status == "failed" for r in view.refunds):
                    plan.refund_failed = True
                    return
            await asyncio.sleep(2.0)

    starters = asyncio.gather(*(start(p) for p in plans))
    refunds: list[asyncio.Task[None]] = []
    deadline = began + timeout_s
    try:
        while True:
            await asyncio.sleep(poll_s)
            for payment_id, status in await _statuses(temporal, customer_id, refund_ids):
                due = by_id.get(payment_id)
                if due is None:
                    continue
                due.status = status
                if not due.refund_requested:
                    due.refund_requested = True
                    refunds.append(asyncio.create_task(refund(due)))
            refunding = [p.payment_id for p in plans if p.refund and not p.refund_failed]
            completed = await _count_done(temporal, customer_id, refunding)
            if on_tick:
                on_tick(completed, count)
            if completed == count and starters.done():
                break
            if loop.time() > deadline:
                errors.append(f"timed out with {count - completed} payments not done")
                for task in refunds:  # a refund update may wait on its payment for long
                    task.cancel()
                break
    finally:
        await starters
        await asyncio.gather(*refunds, return_exceptions=True)
    wall = loop.time() - began
    for payment_id, status in await _statuses(temporal, customer_id):
        if payment_id in by_id:
            by_id[payment_id].status = status
    await _read_latencies(temporal, plans)
    return LoadResult(run_id, customer_id, plans, wall, sum(p.done for p in plans), errors)


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


async def _count_done(temporal: Client, customer_id: str, refund_ids: Sequence[str]) -> int:
    """Payments done, in one count: failed or refunded, or charged and not to be refunded."""
    charged = _quoted(list(CHARGE_DONE - {PaymentStatus.FAILED}))
    final = _quoted([PaymentStatus.REFUNDED, PaymentStatus.FAILED])
    keep = f" AND WorkflowId NOT IN ({_quoted(refund_ids)})" if refund_ids else ""
    query = (
        f"CustomerId = '{customer_id}' AND (PaymentStatus IN ({final})"
        f" OR (PaymentStatus IN ({charged}){keep}))"
    )
    return (await temporal.count_workflows(query)).count


async def _statuses(
    temporal: Client, customer_id: str, refund_ids: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """Statuses by payment: all watched ones, or with `refund_ids`, those of the refund
    share that are charged and wait for their refund (a short list per tick)."""
    if refund_ids is None:
        query = f"CustomerId = '{customer_id}' AND PaymentStatus IN ({_quoted(list(WATCHED))})"
    elif not refund_ids:
        return []
    else:
        charged = _quoted(list(CHARGE_DONE - {PaymentStatus.FAILED}))
        query = (
            f"CustomerId = '{customer_id}' AND PaymentStatus IN ({charged})"
            f" AND WorkflowId IN ({_quoted(refund_ids)})"
        )
    out: list[tuple[str, str]] = []
    async for execution in temporal.list_workflows(query, page_size=1000):
        values = execution.search_attributes.get("PaymentStatus") or []
        if values:
            out.append((execution.id, str(values[0])))
    return out


_REDONE = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    }
)


async def _read_latencies(temporal: Client, plans: list[PlannedPayment], width: int = 32) -> None:
    """Start-to-done per payment from server timestamps in the workflow's history."""
    gate = asyncio.Semaphore(width)

    async def one(plan: PlannedPayment) -> None:
        if not plan.payment_id or not plan.done:
            return
        async with gate:
            history = await temporal.get_workflow_handle(plan.payment_id).fetch_history()
        target = REFUND_DONE if plan.refund else CHARGE_DONE
        started: datetime | None = None
        queues: list[str] = []
        for event in history.events:
            when = event.event_time.ToDatetime()
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                started = when
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                queues.append(event.activity_task_scheduled_event_attributes.task_queue.name)
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                plan.retries += max(0, event.activity_task_started_event_attributes.attempt - 1)
            elif event.event_type in _REDONE:
                plan.retries += 1
            elif event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
                fields = event.upsert_workflow_search_attributes_event_attributes
                payload = fields.search_attributes.indexed_fields.get("PaymentStatus")
                if started is None or payload is None or not payload.data:
                    continue
                if json.loads(payload.data) in target and plan.done_at is None:
                    plan.latency_s = (when - started).total_seconds()
                    plan.started_at, plan.done_at = started, when
        plan.activity_queues = tuple(queues)  # the open workflow schedules no more after done

    await asyncio.gather(*(one(p) for p in plans))


async def _sleep_until(when: float) -> None:
    delay = when - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)
