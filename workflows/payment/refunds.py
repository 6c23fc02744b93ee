"""The `refund` update: accept a refund once per request id, reserve its amount before
the first await (so concurrent refunds cannot exceed the captured amount), refund at
the gateway (refund_gateway), book it in the ledger as the gateway reports it and
record it on the view.

Booking follows the gateway's answer (patch refund-gateway-status): a refund the
gateway reports failed is recorded, not booked; a pending one is booked (the money is
committed to leave) and keeps the payment open until its outcome is reported; one
reported failed later is un-booked by a reversing entry.
"""

from __future__ import annotations

from dataclasses import replace

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.errors import PaysagaError
    from paysaga.domain.gateways import GatewayRefundInput, GatewayRefundResult
    from paysaga.domain.ledger import LedgerCaptureInput
    from paysaga.domain.names import gateway_idempotency_key
    from paysaga.domain.payments import PaymentView
    from paysaga.domain.reconciliation import REFUND_FAILURE
    from paysaga.domain.refunds import RefundOutcome, RefundRecord, RefundRequest, check_refund
    from paysaga.domain.status import PaymentStatus
    from workflows import calls

from workflows.payment import postings, refund_gateway
from workflows.payment.postings import reverse_capture
from workflows.payment.state import PaymentState, rejected

_GATEWAY_STATUS_PATCH = "refund-gateway-status"
_KEEP_OPEN_PATCH = "refund-pending-keeps-payment-open"
_UNBOOK_KIND_PATCH = "refund-failure-unbook-kind"
_RESTORE_SETTLED_PATCH = "refund-failure-restores-settled"

SUCCEEDED, PENDING, FAILED = "succeeded", "pending", "failed"
# Stripe refund statuses (https://docs.stripe.com/api/refunds/object): pending and
# requires_action may still move money; failed and canceled never did.
_NOT_MOVED = frozenset({"failed", "canceled"})


def validate(state: PaymentState, request: RefundRequest) -> None:
    if request.request_id in state.refund_outcomes | dict.fromkeys(state.refunds_in_flight):
        return  # a retry of an accepted refund: answered with its outcome
    try:
        check_refund(state.view, request, state.reserved_minor)
    except PaysagaError as exc:
        raise rejected(exc) from None


async def refund(state: PaymentState, request: RefundRequest) -> RefundOutcome:
    if request.request_id in state.refunds_in_flight:
        await workflow.wait_condition(lambda: request.request_id in state.refund_outcomes)
    if request.request_id in state.refund_outcomes:
        return state.refund_outcomes[request.request_id]
    # Checked again here, synchronously, and reserved before the first await: of two
    # concurrent refunds that together exceed the captured amount, only one passes.
    try:
        check_refund(state.view, request, state.reserved_minor)
    except PaysagaError as exc:
        raise rejected(exc) from None
    state.reserved_minor += request.amount_minor
    state.refunds_in_flight.add(request.request_id)
    try:
        if refund_gateway.must_await_settlement(state, request):
            # Outside the lock: other refunds go on meanwhile.
            await refund_gateway.await_settlement(state, request)
        async with state.lock:
            return await _apply(state, request)
    finally:
        state.reserved_minor -= request.amount_minor
        state.refunds_in_flight.discard(request.request_id)


async def _apply(state: PaymentState, request: RefundRequest) -> RefundOutcome:
    view = state.view
    if view.status == PaymentStatus.RETURNED:
        raise ApplicationError("the payment was returned", type="invalid_request")
    assert view.gateway is not None and view.reference is not None
    step = f"refund-{request.request_id}"
    refunded = await refund_gateway.refund_at_gateway(
        state,
        GatewayRefundInput(
            gateway=view.gateway,
            idempotency_key=gateway_idempotency_key(state.payment_id, step),
            reference=view.reference,
            amount_minor=request.amount_minor,
        ),
    )
    if workflow.patched(_GATEWAY_STATUS_PATCH):
        return await _book(state, request, step, refunded)
    entry = await reverse_capture(
        state, step, request.amount_minor, "refund", refund_reference=refunded.reference
    )
    view = state.view
    total = view.refunded_minor + request.amount_minor
    record = RefundRecord(
        request.request_id,
        request.amount_minor,
        refunded.reference,
        refunded.status,
        workflow.now(),
    )
    status = (
        PaymentStatus.REFUNDED if total >= view.captured_minor else PaymentStatus.PARTIALLY_REFUNDED
    )
    state.update(refunded_minor=total, refunds=(*view.refunds, record))
    state.step("refunded", f"{request.amount_minor} {refunded.reference} {entry.entry_id}")
    state.set_status(status)
    return _answer(state, record)


async def _book(
    state: PaymentState, request: RefundRequest, step: str, refunded: GatewayRefundResult
) -> RefundOutcome:
    """Record the refund as the gateway reported it; book it unless it failed."""
    status = status_of(refunded.status)
    record = RefundRecord(
        request.request_id, request.amount_minor, refunded.reference, status, workflow.now()
    )
    if status == FAILED:  # no money moved: nothing to book
        state.update(
            refunds=(*state.view.refunds, record),
            last_error=f"refund {refunded.reference} failed at the gateway",
        )
        state.step("refund_failed_at_gateway", f"{request.amount_minor} {refunded.reference}")
        return _answer(state, record)
    entry = await reverse_capture(
        state, step, request.amount_minor, "refund", refund_reference=refunded.reference
    )
    view = state.view
    state.update(
        refunded_minor=view.refunded_minor + request.amount_minor,
        refunds=(*view.refunds, record),
    )
    state.step("refunded", f"{request.amount_minor} {refunded.reference} {entry.entry_id}")
    state.set_status(status_after(state.view))
    answer = _answer(state, record)
    failed = state.refund_reports.pop(refunded.reference, None)
    if failed is not None:  # its report came while we were booking it
        report(state, refunded.reference, failed=failed)
    return answer


def status_of(gateway_status: str) -> str:
    """A gateway's refund status as ours: succeeded, failed (no money moved) or pending."""
    if gateway_status == SUCCEEDED:
        return SUCCEEDED
    return FAILED if gateway_status in _NOT_MOVED else PENDING


def _answer(state: PaymentState, record: RefundRecord) -> RefundOutcome:
    outcome = RefundOutcome(
        record.request_id,
        record.reference,
        record.amount_minor,
        state.view.currency,
        record.status,
        state.view.refunded_minor,
    )
    state.refund_outcomes[record.request_id] = outcome
    return outcome


def status_after(view: PaymentView) -> PaymentStatus:
    """The status the booked refunds give: refunded in full only once none is pending."""
    pending = any(r.status == PENDING for r in view.refunds)
    if view.refunded_minor >= view.captured_minor and not pending:
        return PaymentStatus.REFUNDED
    if view.refunded_minor > 0:
        return PaymentStatus.PARTIALLY_REFUNDED
    if view.status in (PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED):
        # Every refund failed: the payment is back where the charge left it.
        if workflow.patched(_RESTORE_SETTLED_PATCH):
            return PaymentStatus.SETTLED if _was_settled(view) else PaymentStatus.CAPTURED
        if view.status == PaymentStatus.PARTIALLY_REFUNDED:
            return PaymentStatus.CAPTURED
    return view.status


def _was_settled(view: PaymentView) -> bool:
    return any(step.name == f"status:{PaymentStatus.SETTLED}" for step in view.steps)


# ----------------------------------------------------------------- reports, later


def report(state: PaymentState, reference: str, *, failed: bool) -> None:
    """The gateway reported refund `reference` succeeded or failed (a webhook)."""
    record = next((r for r in state.view.refunds if r.reference == reference), None)
    if record is None:
        if reference not in state.refund_reports or failed:
            state.refund_reports[reference] = failed  # its refund is still being booked
        return
    if failed and record.status in (PENDING, SUCCEEDED):
        state.refunds_to_unbook[record.request_id] = None  # serve un-books it
    elif not failed and record.status == PENDING:
        _set_record(state, replace(record, status=SUCCEEDED))
        state.set_status(status_after(state.view))


def unbook_due(state: PaymentState) -> bool:
    return bool(state.refunds_to_unbook)


def pending(state: PaymentState) -> bool:
    return any(r.status == PENDING for r in state.view.refunds)


def keeps_open(state: PaymentState) -> bool:
    """A pending refund keeps the payment open past its refund window."""
    return pending(state) and workflow.patched(_KEEP_OPEN_PATCH)


async def unbook_failed(state: PaymentState) -> None:
    """Un-book the booked refunds the gateway reported failed: the money never left."""
    async with state.lock:
        while state.refunds_to_unbook:
            request_id = next(iter(state.refunds_to_unbook))
            record = next(r for r in state.view.refunds if r.request_id == request_id)
            await _unbook(state, record)
            del state.refunds_to_unbook[request_id]


async def _unbook(state: PaymentState, record: RefundRecord) -> None:
    view = state.view
    assert view.gateway is not None and view.reference is not None
    # A reversal cannot be reversed in the ledger: the reversing entry books the
    # refunded amount as owed by the gateway again, like a capture without a hold.
    request = LedgerCaptureInput(
        payment_id=state.payment_id,
        idempotency_key=gateway_idempotency_key(
            state.payment_id, f"refund-failed-{record.request_id}"
        ),
        hold_entry_id=None,
        merchant_id=state.request.merchant_id,
        gateway=view.gateway,
        gateway_reference=view.reference,
        amount_minor=record.amount_minor,
        currency=view.currency,
    )
    if workflow.patched(_UNBOOK_KIND_PATCH):
        # Reconciliation matches it to the gateway's refund_failure by the refund's id.
        request = replace(request, kind=REFUND_FAILURE, refund_reference=record.reference)
    # Booking money back that never left: retried without a deadline, like every
    # booking after a gateway effect.
    entry = await postings.book(
        state,
        "refund_failed",
        lambda retry: calls.ledger_capture(state.routing, request, retry),
    )
    state.update(
        refunded_minor=state.view.refunded_minor - record.amount_minor,
        last_error=f"refund {record.reference} failed at the gateway",
    )
    _set_record(state, replace(record, status=FAILED))
    state.step("refund_unbooked", f"{record.amount_minor} {record.reference} {entry.entry_id}")
    state.set_status(status_after(state.view))


def _set_record(state: PaymentState, record: RefundRecord) -> None:
    state.update(
        refunds=tuple(
            record if r.request_id == record.request_id else r for r in state.view.refunds
        )
    )
    outcome = state.refund_outcomes.get(record.request_id)
    if outcome is not None:
        state.refund_outcomes[record.request_id] = replace(
            outcome, status=record.status, refunded_total_minor=state.view.refunded_minor
        )
