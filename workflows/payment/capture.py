"""After the gateway authorized: wait for the customer's action (3DS) if asked, wait for
the `capture` update (or capture at once in automatic mode) until the authorization
expires, book the capture in the ledger; an ACH debit goes on to wait for settlement.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.events import EventKind
    from paysaga.domain.gateways import GatewayCaptureInput, GatewayResult
    from paysaga.domain.names import gateway_idempotency_key
    from paysaga.domain.payments import CaptureRequest
    from paysaga.domain.status import PaymentStatus
    from workflows import calls, policies
    from workflows.failures import PaymentFailure, classify

from workflows.payment import ach
from workflows.payment.authorize import result_from_event
from workflows.payment.postings import post_capture
from workflows.payment.state import PaymentState


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
    try:
        captured = await calls.capture(
            state.routing,
            GatewayCaptureInput(
                gateway=result.gateway,
                idempotency_key=gateway_idempotency_key(state.payment_id, "capture"),
                reference=result.reference,
                amount_minor=capture.amount_minor,
            ),
        )
    except ActivityError as exc:
        state.capture_error = classify(exc).reason()
        raise PaymentFailure(f"capture failed: {state.capture_error}") from exc
    state.step("captured", f"{captured.captured_minor}")
    return captured
