"""The payment load of the benchmarks, driven through the real PaysagaClient.

Payments start at a target rate, alternate between Stripe and Braintree, and a share of
them is fully refunded once captured. Progress is watched through Temporal visibility
(one list call per tick, not a query per payment, so watching costs the workers nothing);
exact start-to-terminal latencies are read from each workflow's history afterwards.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from client.client import PaysagaClient
from config.settings import Settings
from domain.payloads import PaymentOptions
from domain.status import PaymentStatus
from sandbox import testdata

GATEWAYS = ("stripe", "braintree")
METHODS = {"stripe": testdata.STRIPE_PM_SUCCESS, "braintree": testdata.BRAINTREE_NONCE_SUCCESS}
# Where a payment's saga is done for the benchmark: the charge captured (or failed), and
# for the refunded share, the refund booked.
CHARGE_DONE = frozenset({PaymentStatus.CAPTURED, PaymentStatus.SETTLED, PaymentStatus.FAILED})
REFUND_DONE = frozenset({PaymentStatus.REFUNDED, PaymentStatus.FAILED})
WATCHED = CHARGE_DONE | REFUND_DONE | {PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.CANCELED}


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
    latency_s: float | None = None

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
            refund=bool(every) and i % every == every - 1,
        )
        for i in range(count)
    ]


async def create_merchant(settings: Settings, name: str) -> str:
    from client.control.db import control_engine
    from client.control.merchants import MerchantStore

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
) -> LoadResult:
    """Start `count` payments at `rate`/s, refund a share, wait until all are done."""
    run_id = uuid.uuid4().hex[:10]
    customer_id = f"bench-{run_id}"
    merchant_id = await create_merchant(settings, f"bench-{run_id}")
    client = PaysagaClient(temporal, merchant_id=merchant_id)
    plans = plan_payments(count, refund_share, run_id)
    by_id: dict[str, PlannedPayment] = {}
    errors: list[str] = []
    options = PaymentOptions(refund_window_s=3600)
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def start(plan: PlannedPayment) -> None:
        await _sleep_until(began + plan.index / rate)
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
        for attempt in range(20):
            try:
                await client.refund(
                    plan.payment_id, plan.amount_minor, request_id=f"{plan.idempotency_key}-r"
                )
                return
            except Exception as exc:  # same request id: retrying is safe
                errors.append(f"refund {plan.payment_id} attempt {attempt}: {exc!r}")
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt))

    starters = asyncio.gather(*(start(p) for p in plans))
    refunds: list[asyncio.Task[None]] = []
    deadline = began + timeout_s
    try:
        while True:
            await asyncio.sleep(poll_s)
            for payment_id, status in await _statuses(temporal, customer_id):
                plan = by_id.get(payment_id)
                if plan is None:
                    continue
                plan.status = status
                charged = status in CHARGE_DONE - {PaymentStatus.FAILED}
                if plan.refund and charged and not plan.refund_requested:
                    plan.refund_requested = True
                    refunds.append(asyncio.create_task(refund(plan)))
            completed = sum(p.done for p in plans)
            if on_tick:
                on_tick(completed, count)
            if completed == count and starters.done():
                break
            if loop.time() > deadline:
                errors.append(f"timed out with {count - completed} payments not done")
                break
    finally:
        await starters
        await asyncio.gather(*refunds, return_exceptions=True)
    wall = loop.time() - began
    await _read_latencies(temporal, plans)
    return LoadResult(run_id, customer_id, plans, wall, sum(p.done for p in plans), errors)


async def _statuses(temporal: Client, customer_id: str) -> list[tuple[str, str]]:
    watched = ", ".join(f"'{s}'" for s in sorted(WATCHED))
    query = f"CustomerId = '{customer_id}' AND PaymentStatus IN ({watched})"
    out: list[tuple[str, str]] = []
    async for execution in temporal.list_workflows(query, page_size=1000):
        values = execution.search_attributes.get("PaymentStatus") or []
        if values:
            out.append((execution.id, str(values[0])))
    return out


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
        for event in history.events:
            when = event.event_time.ToDatetime()
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                started = when
            elif event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
                fields = event.upsert_workflow_search_attributes_event_attributes
                payload = fields.search_attributes.indexed_fields.get("PaymentStatus")
                if started is None or payload is None or not payload.data:
                    continue
                if json.loads(payload.data) in target:
                    plan.latency_s = (when - started).total_seconds()
                    return

    await asyncio.gather(*(one(p) for p in plans))


async def _sleep_until(when: float) -> None:
    delay = when - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)
