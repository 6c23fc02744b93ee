"""Undoing a charge that failed or failed over: void the ledger hold, cancel the
authorization at the gateway, and when the gateway captured the charge anyway (it
cannot be canceled then), book the capture and refund it.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.failures import ErrorType
    from paysaga.domain.gateways import GatewayCancelInput, GatewayRefundInput, GatewayResult
    from paysaga.domain.ledger import LedgerVoidInput
    from paysaga.domain.names import gateway_idempotency_key
    from paysaga.domain.refunds import RefundRecord
    from workflows import calls
    from workflows.failures import classify

from workflows.payment.authorize import lookup
from workflows.payment.postings import gateway_step, post_capture, reverse_capture
from workflows.payment.state import PaymentState

_REFUND_CAPTURED_PATCH = "refund-captured-charge-on-compensation"


async def void_hold(state: PaymentState) -> None:
    entry_id = state.view.hold_entry_id
    if entry_id is None:
        return
    await calls.ledger_void(
        state.routing,
        LedgerVoidInput(
            payment_id=state.payment_id,
            idempotency_key=gateway_idempotency_key(state.payment_id, f"void-{entry_id}"),
            entry_id=entry_id,
        ),
    )
    state.update(hold_entry_id=None)
    state.step("ledger_void", entry_id)


async def cancel_authorization(state: PaymentState) -> None:
    view = state.view
    assert view.gateway is not None
    reference = view.reference
    if reference is None:
        # We never learned of an authorization; make sure none exists at the gateway.
        found = await lookup(state, view.gateway)
        if found is None or found.state in ("failed", "canceled"):
            return
        reference = found.reference
    try:
        await calls.cancel(
            state.routing,
            GatewayCancelInput(
                gateway=view.gateway,
                idempotency_key=gateway_idempotency_key(state.payment_id, "cancel"),
                reference=reference,
            ),
            compensating=True,
        )
    except ActivityError as exc:
        # Refused: the gateway captured (or settled) the charge, which can no longer
        # be voided; only a refund gives the money back.
        if classify(exc).type != ErrorType.INVALID_REQUEST or not workflow.patched(
            _REFUND_CAPTURED_PATCH
        ):
            raise
        found = await lookup(state, view.gateway)
        if found is None or found.state not in ("captured", "settled"):
            raise
        await _refund_captured(state, found)
        return
    state.step("authorization_voided", reference)


async def _refund_captured(state: PaymentState, found: GatewayResult) -> None:
    """Book a charge the gateway took although the payment failed, and refund it.

    The ledger must show what the gateway did (capture, then refund), or
    reconciliation finds a settled charge that is missing in the ledger.
    """
    amount = found.captured_minor or found.amount_minor
    state.update(reference=found.reference)
    if state.view.capture_entry_id is None:
        await post_capture(state, amount)  # posts the hold (a direct charge without one)
        state.update(hold_entry_id=None)  # posted: void_hold has nothing left to undo
    refunded = await calls.refund(
        state.routing,
        GatewayRefundInput(
            gateway=found.gateway,
            idempotency_key=gateway_idempotency_key(state.payment_id, "compensate-refund"),
            reference=found.reference,
            amount_minor=amount,
        ),
    )
    step = gateway_step(state, "compensate-refund")
    entry = await reverse_capture(
        state, step, amount, "refund", refund_reference=refunded.reference
    )
    view = state.view
    record = RefundRecord(
        "compensation", amount, refunded.reference, refunded.status, workflow.now()
    )
    state.update(refunded_minor=amount, refunds=(*view.refunds, record))
    state.step("captured_charge_refunded", f"{amount} {refunded.reference} {entry.entry_id}")
