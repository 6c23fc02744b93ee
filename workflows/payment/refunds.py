"""The `refund` update: accept a refund once per request id, reserve its amount before
the first await (so concurrent refunds cannot exceed the captured amount), refund at
the gateway, reverse it in the ledger and record it on the view.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.errors import PaysagaError
    from paysaga.domain.gateways import GatewayRefundInput, GatewayRefundResult
    from paysaga.domain.names import gateway_idempotency_key
    from paysaga.domain.refunds import RefundOutcome, RefundRecord, RefundRequest, check_refund
    from paysaga.domain.status import PaymentStatus
    from workflows import calls, policies
    from workflows.failures import classify

from workflows.payment.postings import reverse_capture
from workflows.payment.state import PaymentState, rejected

_RESEND_ON_UNKNOWN_PATCH = "refund-resend-on-unknown-outcome"


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
    refunded = await _refund_at_gateway(
        state,
        GatewayRefundInput(
            gateway=view.gateway,
            idempotency_key=gateway_idempotency_key(state.payment_id, step),
            reference=view.reference,
            amount_minor=request.amount_minor,
        ),
    )
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
    outcome = RefundOutcome(
        request.request_id,
        refunded.reference,
        request.amount_minor,
        view.currency,
        refunded.status,
        total,
    )
    state.refund_outcomes[request.request_id] = outcome
    return outcome


async def _refund_at_gateway(
    state: PaymentState, refund: GatewayRefundInput
) -> GatewayRefundResult:
    """The gateway's refund; an update failing here is final for its request id.

    Temporal answers a retried update id with the first outcome, so a refund must not
    fail on something a retry would fix: an unknown outcome (the refund may have
    happened at the gateway) is resent with the same idempotency key, which returns
    the first refund if there was one, instead of leaving gateway and ledger apart.
    """
    for round_ in range(policies.REFUND_ROUNDS):
        try:
            return await calls.refund(state.routing, refund)
        except ActivityError as exc:
            failure = classify(exc)
            last_round = round_ == policies.REFUND_ROUNDS - 1
            if (
                failure.outcome_unknown
                and not last_round
                and workflow.patched(_RESEND_ON_UNKNOWN_PATCH)
            ):
                state.step("refund_outcome_unknown", failure.reason())
                continue
            state.step("refund_failed", failure.reason())
            raise ApplicationError(
                f"refund failed: {failure.reason()}", type=failure.type, non_retryable=True
            ) from exc
    raise AssertionError("unreachable")
