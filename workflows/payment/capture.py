"""After the gateway authorized: wait for the customer's action (3DS) if asked, wait for
the `capture` update (or capture at once in automatic mode) until the authorization
expires, book the capture in the ledger; an ACH debit goes on to wait for settlement.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.events import EventKind
    from paysaga.domain.failures import ErrorType
    from paysaga.domain.gateways import GatewayCaptureInput, GatewayResult
    from paysaga.domain.names import gateway_idempotency_key
    from paysaga.domain.payments import CaptureRequest
    from paysaga.domain.status import PaymentStatus
    from workflows import calls, policies
    from workflows.failures import Failure, PaymentFailure, classify

from workflows.payment import ach
from workflows.payment.authorize import result_from_event
from workflows.payment.postings import post_capture
from workflows.payment.state import PaymentState

# A capture that failed transiently or with an unknown outcome is resent until the
# authorization expires (was: refunded/voided after one round of retries).
_CAPTURE_UNTIL_EXPIRY_PATCH = "capture-resend-until-authorization-expiry"


async def after_authorization(state: PaymentState, result: GatewayResult) -> None:
    state.update(reference=result.reference, authorized_minor=result.amount_minor)
    if result.state == "requires_action":
        result = await _wait_for_customer_action(state, result)
    if result.state == "authorized":
        result = await _await_capture(state, result)
    if result.state == "processing":
        await post_capture(state, result.amount_minor)
        await ach.await_settlement(state)
        return
    if result.state in ("captured", "settled"):
        await post_capture(state, result.captured_minor or result.amount_minor)
        settled = result.state == "settled"
        state.set_status(PaymentStatus.SETTLED if settled else PaymentStatus.CAPTURED)
        return
    raise PaymentFailure(f"unexpected gateway state {result.state}")


async def _wait_for_customer_action(state: PaymentState, result: GatewayResult) -> GatewayResult:
    state.set_status(PaymentStatus.REQUIRES_ACTION)
    try:
        await workflow.wait_condition(
            lambda: state.webhook_payment is not None or state.cancel_request is not None,
            timeout=policies.DEFAULT_REQUIRES_ACTION_WAIT,
        )
    except TimeoutError:
        raise PaymentFailure("customer action not completed in time") from None
    if state.cancel_request is not None:
        raise PaymentFailure(state.cancel_reason(), status=PaymentStatus.CANCELED)
    event = state.webhook_payment
    assert event is not None
    if event.kind == EventKind.PAYMENT_FAILED:
        raise PaymentFailure(f"customer action failed: {event.data.get('reason', 'failed')}")
    return result_from_event(state, result.gateway, event)


async def _await_capture(state: PaymentState, result: GatewayResult) -> GatewayResult:
    expires_at = workflow.now() + policies.authorization_expiry(state.request.options)
    if state.request.capture_mode == "automatic":
        # Confirmed as authorized only (e.g. by webhook): capture without waiting.
        state.capture_request = CaptureRequest(request_id="automatic")
    else:
        state.set_status(PaymentStatus.AWAITING_CAPTURE, authorization_expires_at=expires_at)
    try:
        await workflow.wait_condition(
            lambda: (
                state.capture_request is not None
                or state.cancel_request is not None
                or state.external_cancel
            ),
            timeout=expires_at - workflow.now(),
        )
    except TimeoutError:
        raise PaymentFailure("authorization_expired", status=PaymentStatus.CANCELED) from None
    if state.cancel_request is not None or state.external_cancel:
        raise PaymentFailure(state.cancel_reason(), status=PaymentStatus.CANCELED)
    capture = state.capture_request
    assert capture is not None
    state.set_status(PaymentStatus.CAPTURING)
    request = GatewayCaptureInput(
        gateway=result.gateway,
        idempotency_key=gateway_idempotency_key(state.payment_id, "capture"),
        reference=result.reference,
        amount_minor=capture.amount_minor,
    )
    if workflow.patched(_CAPTURE_UNTIL_EXPIRY_PATCH):
        captured = await _capture_until_expiry(state, request, expires_at)
    else:
        try:
            captured = await calls.capture(state.routing, request)
        except ActivityError as exc:
            state.capture_error = classify(exc).reason()
            raise PaymentFailure(f"capture failed: {state.capture_error}") from exc
    state.step("captured", f"{captured.captured_minor}")
    return captured


async def _capture_until_expiry(
    state: PaymentState, request: GatewayCaptureInput, expires_at: datetime
) -> GatewayResult:
    """The gateway's capture, resent while the authorization lives.

    Resending is safe: Stripe answers a resent capture from its idempotency key
    (docs.stripe.com/api/idempotent_requests; once the key is pruned after 24 hours the
    capture activity reads the refusal back), and Braintree refuses a second
    submit_for_settlement with validation error 91507 (CannotSubmitForSettlement in the
    SDK's braintree/error_codes.py: "Cannot submit for settlement unless status is
    authorized", developer.paypal.com/braintree/docs/reference/general/validation-errors/
    all/python#code-91507), which the adapter reads back
    as the earlier capture. Meanwhile the payment stays CAPTURING and its LastError and
    next_retry_at say that the capture is being resent, and until when.
    """
    before = state.view.last_error
    round_ = 0
    while True:
        try:
            captured = await calls.capture(state.routing, request)
        except ActivityError as exc:
            failure = classify(exc)
            retry_at = min(workflow.now() + policies.capture_round_delay(round_), expires_at)
            if not _resendable(failure) or retry_at <= workflow.now():
                state.capture_error = failure.reason()
                raise PaymentFailure(f"capture failed: {state.capture_error}") from exc
            round_ += 1
            alert = (
                f"capture pending (round {round_}), resent until the authorization expires"
                f" at {expires_at.isoformat()}: {failure.reason()}"
            )
            state.update(
                last_error=alert, next_retry_at=retry_at, authorization_expires_at=expires_at
            )
            state.step("capture_retrying", alert)
            await _wait_unless_canceled(state, retry_at)
            continue
        if round_:
            state.update(last_error=before, next_retry_at=None)
        return captured


def _resendable(failure: Failure) -> bool:
    return failure.outcome_unknown or failure.type in (
        ErrorType.UNAVAILABLE,
        ErrorType.RATE_LIMITED,
    )


async def _wait_unless_canceled(state: PaymentState, until: datetime) -> None:
    """Sleep until `until`; a cancel at the gateway (the authorization is gone) ends it."""
    try:
        await workflow.wait_condition(lambda: state.external_cancel, timeout=until - workflow.now())
    except TimeoutError:
        return
    raise PaymentFailure(state.cancel_reason(), status=PaymentStatus.CANCELED)
