"""The payment's ledger postings that more than one step makes: booking the capture
(a capture, an ACH debit, the compensation's refund of a captured charge) and reversing
it (refunds, ACH returns, that compensation refund).

Both book money that already moved at a gateway, so they never give up on a ledger
that is away (issue 13): they retry in rounds without end, and between rounds the
payment's LastError (search attribute and view) says the booking is pending. Only a
ledger that refuses the request itself (a non-retryable error) fails them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.ledger import LedgerCaptureInput, LedgerEntryRef, LedgerReversalInput
    from paysaga.domain.names import gateway_idempotency_key
    from workflows import calls, policies
    from workflows.failures import classify

from workflows.payment.state import PaymentState

T = TypeVar("T")

# Booking after a gateway effect retries without a deadline (was ~20 minutes).
BOOK_UNTIL_DONE_PATCH = "ledger-booking-retries-until-done"
# The ledger capture key names the gateway, as the hold's does (`hold-{gateway}`): after a
# compensated capture at one gateway, the next gateway's capture is another entry.
CAPTURE_KEY_PER_GATEWAY_PATCH = "ledger-capture-key-per-gateway"


def gateway_step(state: PaymentState, step: str) -> str:
    """`step` of the payment's current gateway: the ledger entries of a charge at one
    gateway (its capture, its compensation refund) never share a key with another's."""
    gateway = state.view.gateway
    if gateway is not None and workflow.patched(CAPTURE_KEY_PER_GATEWAY_PATCH):
        return f"{step}-{gateway}"
    return step


async def post_capture(state: PaymentState, amount_minor: int) -> None:
    view = state.view
    assert view.gateway is not None and view.reference is not None
    request = LedgerCaptureInput(
        payment_id=state.payment_id,
        idempotency_key=gateway_idempotency_key(state.payment_id, gateway_step(state, "capture")),
        hold_entry_id=view.hold_entry_id,
        merchant_id=state.request.merchant_id,
        gateway=view.gateway,
        gateway_reference=view.reference,
        amount_minor=amount_minor,
        currency=state.request.currency,
    )
    entry = await book(
        state, "capture", lambda retry: calls.ledger_capture(state.routing, request, retry)
    )
    state.update(captured_minor=amount_minor, capture_entry_id=entry.entry_id)
    state.step("ledger_capture", entry.entry_id)


async def reverse_capture(
    state: PaymentState,
    step: str,
    amount_minor: int,
    reason: str,
    *,
    refund_reference: str | None = None,
) -> LedgerEntryRef:
    """Reverse (part of) the captured charge in the ledger: a refund or an ACH return.

    `step` names it in the idempotency key, so a retried step reverses once. Returns
    only once booked (see the module docstring).
    """
    view = state.view
    assert view.gateway is not None and view.reference is not None
    request = LedgerReversalInput(
        payment_id=state.payment_id,
        idempotency_key=gateway_idempotency_key(state.payment_id, step),
        merchant_id=state.request.merchant_id,
        gateway=view.gateway,
        gateway_reference=view.reference,
        amount_minor=amount_minor,
        currency=view.currency,
        reason=reason,
        refund_reference=refund_reference,
        entry_id=view.capture_entry_id,
    )
    return await book(
        state, step, lambda retry: calls.ledger_reverse(state.routing, request, retry)
    )


async def book(state: PaymentState, what: str, post: Callable[[RetryPolicy], Awaitable[T]]) -> T:
    """Run the ledger posting `post` until it is done, alerting while it is not."""
    if not workflow.patched(BOOK_UNTIL_DONE_PATCH):
        return await post(policies.LEDGER_RETRY)
    alert: str | None = None
    before = state.view.last_error
    round_ = 0
    while True:
        retry = policies.booking_retry(round_)
        try:
            result = await post(retry)
        except ActivityError as exc:
            if not calls.retries_exhausted(exc, retry):
                raise
            round_ += 1
            reason = classify(exc).reason()
            alert = f"ledger booking of {what} pending (round {round_}), retrying: {reason}"
            state.update(last_error=alert)
            state.step("ledger_retrying", alert)
            continue
        if alert is not None and state.view.last_error == alert:
            state.update(last_error=before)  # booked: the alert is over
        return result
