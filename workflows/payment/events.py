"""The `gateway_event` signal: drop redeliveries, then act on what the event means for
the payment now (`domain.events.event_intent`). Steps waiting on an event are woken by
the flags set here; settlement, reconciliation and refund reports change the view.
"""

from __future__ import annotations

from dataclasses import replace

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.events import EventIntent, EventKind, GatewayEvent, event_intent
    from paysaga.domain.status import PaymentStatus

from workflows.payment import refunds as refund_steps
from workflows.payment.state import PaymentState

_REFUND_BY_ID_PATCH = "refund-events-by-refund-id"

# Runs from this patch on flag a charge reported outside the authorization that is not the
# payment's (older runs dropped it); the flag is a LastError and a step, for the sweeper.
_UNMATCHED_CHARGE_PATCH = "flag-unmatched-gateway-charge"


def _flag_unmatched_charge(state: PaymentState, event: GatewayEvent) -> None:
    """A charge at the gateway that is not this payment's: alert, never drop.

    Who voids or refunds it is the sweeper's (it lists the gateway's charges against
    our payments); the payment records it so the operator and the sweeper see why.
    """
    detail = f"{event.gateway} {event.reference} {event.kind} {event.amount_minor}"
    state.step("unmatched_charge", detail)
    state.update(last_error=f"unmatched gateway charge: {detail} (not this payment's)")


# Runs from this patch on take Stripe's payment_intent.payment_failed / charge.failed on a
# settled ACH debit as its return (a return comes days after settlement, R10 up to 60
# days); older runs dropped it, so the money stayed booked.
_RETURN_AFTER_SETTLEMENT_PATCH = "ach-return-after-settlement"


def _returned_after_settlement(
    state: PaymentState, event: GatewayEvent, intent: EventIntent
) -> bool:
    settled_debit = (
        state.request.method_type == "ach" and state.view.status == PaymentStatus.SETTLED
    )
    if intent != EventIntent.NONE or not settled_debit or event.kind != EventKind.PAYMENT_FAILED:
        return False
    return workflow.patched(_RETURN_AFTER_SETTLEMENT_PATCH)


def apply(state: PaymentState, event: GatewayEvent) -> None:
    if event.event_id in state.seen:
        return  # duplicate delivery
    state.seen[event.event_id] = None
    state.events_this_run += 1
    state.step(f"event:{event.kind}", event.event_id)
    intent = event_intent(
        event.kind,
        state.view.status,
        state.request.method_type,
        reference=event.reference,
        held_reference=state.view.reference,
    )
    if _returned_after_settlement(state, event, intent):
        intent = EventIntent.DEBIT_RETURNED
    if intent == EventIntent.UNMATCHED_CHARGE:
        if workflow.patched(_UNMATCHED_CHARGE_PATCH):
            _flag_unmatched_charge(state, event)
    elif intent == EventIntent.GATEWAY_ANSWER:
        state.webhook_payment = event
    elif intent == EventIntent.CANCELED_AT_GATEWAY:
        state.external_cancel = True
    elif intent == EventIntent.DEBIT_SETTLED:
        state.ach_settled = True
    elif intent == EventIntent.CHARGE_SETTLED:
        state.set_status(PaymentStatus.SETTLED)
    elif intent == EventIntent.DEBIT_RETURNED:
        if state.ach_return is None:  # the first return reported wins
            state.ach_return = event
    elif intent == EventIntent.SETTLEMENT_EXCEPTION:
        state.update(last_error=f"reconciliation: {event.data.get('kind', 'exception')}")
    elif intent == EventIntent.REFUND_STATUS:
        _mark_refund(state, event)


def _mark_refund(state: PaymentState, event: GatewayEvent) -> None:
    if workflow.patched(_REFUND_BY_ID_PATCH):
        # Matched by the refund's own id (re_...): event.reference is the payment's.
        refund_reference = event.data.get("refund_reference")
        if refund_reference:
            refund_steps.report(
                state, refund_reference, failed=event.kind == EventKind.REFUND_FAILED
            )
        return
    reference = event.data.get("refund_reference") or event.reference
    status = "succeeded" if event.kind == EventKind.REFUND_SUCCEEDED else "failed"
    refunds = tuple(
        replace(r, status=status) if r.reference == reference and r.status == "pending" else r
        for r in state.view.refunds
    )
    if refunds != state.view.refunds:
        state.update(refunds=refunds)
        if status == "failed":
            state.update(last_error=f"refund {reference} failed at the gateway")
