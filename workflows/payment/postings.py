"""The payment's ledger postings that more than one step makes: booking the capture
(a capture, an ACH debit, the compensation's refund of a captured charge) and reversing
it (refunds, ACH returns, that compensation refund).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.ledger import LedgerCaptureInput, LedgerEntryRef, LedgerReversalInput
    from paysaga.domain.names import gateway_idempotency_key
    from workflows import calls

from workflows.payment.state import PaymentState


async def post_capture(state: PaymentState, amount_minor: int) -> None:
    view = state.view
    assert view.gateway is not None and view.reference is not None
    entry = await calls.ledger_capture(
        state.routing,
        LedgerCaptureInput(
            payment_id=state.payment_id,
            idempotency_key=gateway_idempotency_key(state.payment_id, "capture"),
            hold_entry_id=view.hold_entry_id,
            merchant_id=state.request.merchant_id,
            gateway=view.gateway,
            gateway_reference=view.reference,
            amount_minor=amount_minor,
            currency=state.request.currency,
        ),
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

    `step` names it in the idempotency key, so a retried step reverses once.
    """
    view = state.view
    assert view.gateway is not None and view.reference is not None
    return await calls.ledger_reverse(
        state.routing,
        LedgerReversalInput(
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
        ),
    )
