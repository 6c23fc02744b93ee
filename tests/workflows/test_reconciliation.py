"""Reconciliation: the matcher for every exception kind, and the workflow end to end
(mocked gateway listing and ledger, real signals into running PaymentWorkflows)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
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
from workflows.policies import RECON_GATEWAY_RETRY_ROUNDS

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
    failures: dict[str, int] = field(default_factory=dict)  # gateway -> listings to fail
    listed: list[str] = field(default_factory=list)

    def activities(self) -> list[Any]:
        return [self.list_settled, self.match, self.post, self.store]

    @activity.defn(name=names.LIST_SETTLED)
    async def list_settled(self, request: ListSettledInput) -> SettledBatch:
        self.listed.append(request.gateway)
        if self.failures.get(request.gateway, 0) > 0:
            self.failures[request.gateway] -= 1
            raise ApplicationError(
                "401 from the settlement API", type="AuthenticationFailed", non_retryable=True
            )
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
    every_kind = {k.value for k in ExceptionKind} - {ExceptionKind.GATEWAY_FAILED.value}
    assert {str(e.kind) for e in report.exceptions} == every_kind
    assert recon.stored and recon.stored[0].report_id == task_queue
    assert report.fees_minor == {"USD": 120}
    # Our live payment heard about its settlement; the others have no workflow.
    assert report.payments_signaled == 1
    assert view.status == PaymentStatus.SETTLED


async def reconcile_both(
    env: WorkflowEnvironment, task_queue: str, recon: FakeRecon
) -> ReconciliationReport:
    async with worker(env.client, task_queue, recon.activities()):
        return await run_reconciliation(
            env.client,
            ReconciliationRequest(
                period_start=AT - timedelta(days=1),
                period_end=AT + timedelta(days=1),
                gateways=("stripe", "braintree"),
                report_id=task_queue,
                routing=Routing.single(task_queue),
                signal_payments=False,
            ),
            task_queue=task_queue,
        )


async def test_one_failing_gateway_does_not_fail_the_others(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Issue 13, defect 10: Braintree's listing fails (twice); Stripe's result stands, the
    failure is reported with its reason, and Braintree is retried until it reconciles."""
    stripe_item = settled("pi_1", "p-1", 1000)
    braintree_item = replace(settled("bt_1", "p-2", 500), gateway="braintree")
    recon = FakeRecon(
        items={"stripe": (stripe_item,), "braintree": (braintree_item,)},
        ledger=(
            booked("", "p-1", 1000, "0-1"),
            replace(booked("", "p-2", 500, "0-2"), gateway="braintree"),
        ),
        failures={"braintree": 2},
    )
    report = await reconcile_both(env, task_queue, recon)
    assert report.status == ReconciliationStatus.COMPLETED
    assert report.matched_count == 2 and report.exceptions == ()
    assert recon.listed.count("stripe") == 1 and recon.listed.count("braintree") == 3
    # Meanwhile the stored report had Stripe's result and Braintree's failure, with why.
    interim = recon.stored[0]
    assert interim.status == ReconciliationStatus.RUNNING and interim.matched_count == 1
    [failure] = interim.exceptions
    assert (failure.kind, failure.gateway) == (ExceptionKind.GATEWAY_FAILED, "braintree")
    assert "AuthenticationFailed" in failure.detail and "401" in failure.detail
    assert recon.stored[-1] == replace(report, payments_signaled=0)


async def test_a_gateway_failing_every_round_is_reported(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    recon = FakeRecon(
        items={"stripe": (settled("pi_1", "p-1", 1000),)},
        ledger=(booked("", "p-1", 1000, "0-1"),),
        failures={"braintree": 100},
    )
    report = await reconcile_both(env, task_queue, recon)
    assert report.status == ReconciliationStatus.COMPLETED and report.matched_count == 1
    assert [(e.kind, e.gateway) for e in report.exceptions] == [
        (ExceptionKind.GATEWAY_FAILED, "braintree")
    ]
    assert recon.listed.count("braintree") == 1 + RECON_GATEWAY_RETRY_ROUNDS
