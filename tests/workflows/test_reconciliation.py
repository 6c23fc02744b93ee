"""Reconciliation: the matcher for every exception kind, and the workflow end to end
(mocked gateway listing and ledger, real signals into running PaymentWorkflows)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from paysaga.client.starts import run_reconciliation, start_payment
from paysaga.domain import activity_names as names
from paysaga.domain.payments import PaymentOptions
from paysaga.domain.reconciliation import (
    ExceptionKind,
    LedgerItem,
    ListSettledInput,
    MatchInput,
    MatchResult,
    PostSettlementInput,
    PostSettlementResult,
    ReconciliationReport,
    ReconciliationRequest,
    SettledBatch,
    SettledItem,
)
from paysaga.domain.routing import Routing
from paysaga.domain.settlement_matching import match_settlements
from paysaga.domain.status import PaymentStatus, ReconciliationStatus
from tests.workflows.fakes import FakeWorld
from tests.workflows.helpers import payment_request, worker
from workflows.payment import PaymentWorkflow

AT = datetime(2026, 1, 2, 12, tzinfo=UTC)


def settled(
    ref: str, pid: str | None, amount: int, currency: str = "USD", **kw: Any
) -> SettledItem:
    return SettledItem(
        gateway="stripe",
        reference=ref,
        payment_id=pid,
        kind=kw.pop("kind", "charge"),
        amount_minor=amount,
        fee_minor=kw.pop("fee", 30),
        currency=currency,
        settled_at=AT,
        **kw,
    )


def booked(ref: str, pid: str, amount: int, entry: str, currency: str = "USD") -> LedgerItem:
    return LedgerItem("stripe", ref, pid, "charge", amount, currency, entry)


GATEWAY = (
    settled("pi_ok", "p-ok", 1000),
    settled("pi_amt", "p-amt", 999),
    settled("pi_cur", "p-cur", 500, "EUR"),
    settled("pi_new", "p-new", 700),
    settled("pi_dup", "p-dup", 300),
    settled("pi_dup", "p-dup", 300),
    settled("pi_ok", "p-ok", 400, kind="refund", refund_reference="re_1", fee=0),
)
LEDGER = (
    booked("", "p-ok", 1000, "0-1"),
    booked("", "p-amt", 1000, "0-2"),
    booked("", "p-cur", 500, "1-3"),
    booked("", "p-dup", 300, "1-4"),
    booked("", "p-gone", 800, "0-5"),
    LedgerItem("stripe", "pi_ok", "p-ok", "refund", 400, "USD", "0-6", "re_1"),
)


def test_matcher_classifies_every_kind() -> None:
    result = match_settlements("stripe", GATEWAY, LEDGER)
    kinds = {(e.kind, e.payment_id) for e in result.exceptions}
    assert kinds == {
        (ExceptionKind.AMOUNT_MISMATCH, "p-amt"),
        (ExceptionKind.CURRENCY_MISMATCH, "p-cur"),
        (ExceptionKind.MISSING_IN_LEDGER, "p-new"),
        (ExceptionKind.DUPLICATE, "p-dup"),
        (ExceptionKind.MISSING_AT_GATEWAY, "p-gone"),
    }
    assert sorted((m.payment_id, m.item.kind) for m in result.matched) == [
        ("p-dup", "charge"),
        ("p-ok", "charge"),
        ("p-ok", "refund"),
    ]
    amount = next(e for e in result.exceptions if e.kind == ExceptionKind.AMOUNT_MISMATCH)
    assert (amount.expected_minor, amount.actual_minor) == (1000, 999)


def test_duplicate_ledger_entries_are_reported() -> None:
    ledger = (booked("", "p1", 100, "0-1"), booked("", "p1", 100, "0-2"))
    result = match_settlements("stripe", (settled("pi_1", "p1", 100),), ledger)
    assert [e.kind for e in result.exceptions] == [ExceptionKind.DUPLICATE]
    assert len(result.matched) == 1


@dataclass
class FakeRecon:
    items: dict[str, tuple[SettledItem, ...]]
    ledger: tuple[LedgerItem, ...]
    stored: list[ReconciliationReport] = field(default_factory=list)
    posted: list[str] = field(default_factory=list)

    def activities(self) -> list[Any]:
        return [self.list_settled, self.match, self.post, self.store]

    @activity.defn(name=names.LIST_SETTLED)
    async def list_settled(self, request: ListSettledInput) -> SettledBatch:
        return SettledBatch(request.gateway, self.items.get(request.gateway, ()))

    @activity.defn(name=names.RECON_MATCH)
    async def match(self, request: MatchInput) -> MatchResult:
        ledger = tuple(i for i in self.ledger if i.gateway == request.gateway)
        return match_settlements(request.gateway, request.items, ledger)

    @activity.defn(name=names.RECON_POST_SETTLEMENTS)
    async def post(self, request: PostSettlementInput) -> PostSettlementResult:
        self.posted.extend(m.item.reference for m in request.matched)
        return PostSettlementResult(len(request.matched), {"USD": 30 * len(request.matched)})

    @activity.defn(name=names.RECON_STORE_REPORT)
    async def store(self, report: ReconciliationReport) -> None:
        self.stored.append(report)


async def test_workflow_reports_and_signals_payments(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld()
    recon = FakeRecon(items={}, ledger=())
    async with worker(env.client, task_queue, world.activities() + recon.activities()):
        handle, _ = await start_payment(
            env.client,
            payment_request(task_queue, options=PaymentOptions(refund_window_s=3600)),
            task_queue=task_queue,
        )
        for _ in range(100):
            if (await handle.query(PaymentWorkflow.status)).status == PaymentStatus.CAPTURED:
                break
            await asyncio.sleep(0.05)
        pid = handle.id
        recon.items = {"stripe": (settled("ref-1-stripe", pid, 1000), *GATEWAY)}
        recon.ledger = (booked("", pid, 1000, "0-9"), *LEDGER)
        # Real time only: skipping would end the payment's refund window meanwhile.
        with env.auto_time_skipping_disabled():
            report = await run_reconciliation(
                env.client,
                ReconciliationRequest(
                    period_start=AT - timedelta(days=1),
                    period_end=AT + timedelta(days=1),
                    gateways=("stripe", "braintree"),
                    report_id=task_queue,
                    routing=Routing.single(task_queue),
                ),
                task_queue=task_queue,
            )
            view = await handle.query(PaymentWorkflow.status)
            await handle.terminate()
    assert report.status == ReconciliationStatus.COMPLETED
    assert report.matched_count == 4 and len(report.exceptions) == 5
    assert {str(e.kind) for e in report.exceptions} == {k.value for k in ExceptionKind}
    assert recon.stored and recon.stored[0].report_id == task_queue
    assert report.fees_minor == {"USD": 120}
    # Our live payment heard about its settlement; the others have no workflow.
    assert report.payments_signaled == 1
    assert view.status == PaymentStatus.SETTLED
