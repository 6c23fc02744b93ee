"""Gateway webhooks as one event type, and what an event means for a payment.

The API's webhook ingress turns a provider's event type into an `EventKind`
(`webhook_kind`); the payment workflow turns the event into what it must do given
where the payment stands (`event_intent`). Both are pure, so the workflow sandbox
and the API share them.

Temporal's default converter (de)serialises these by type hints, so every field is
typed precisely: ints for money, tuples for sequences, datetimes in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from paysaga.domain.status import PaymentStatus, is_final, may_advance


class EventKind(StrEnum):
    """Gateway webhooks, normalised by the API's webhook ingress."""

    PAYMENT_REQUIRES_ACTION = "payment.requires_action"
    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_CAPTURED = "payment.captured"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_CANCELED = "payment.canceled"
    ACH_SETTLED = "ach.settled"
    ACH_RETURNED = "ach.returned"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    SETTLEMENT_MATCHED = "settlement.matched"  # from reconciliation
    SETTLEMENT_EXCEPTION = "settlement.exception"  # from reconciliation


@dataclass(frozen=True)
class GatewayEvent:
    event_id: str
    gateway: str
    kind: EventKind
    occurred_at: datetime
    reference: str | None = None
    payment_id: str | None = None
    amount_minor: int | None = None
    data: dict[str, str] = field(default_factory=dict)  # e.g. return_code, decline_code


# Provider event types that concern a payment; the others are recorded, not delivered.
WEBHOOK_KINDS: Final[dict[str, dict[str, EventKind]]] = {
    "stripe": {
        "payment_intent.requires_action": EventKind.PAYMENT_REQUIRES_ACTION,
        "payment_intent.amount_capturable_updated": EventKind.PAYMENT_AUTHORIZED,
        "payment_intent.succeeded": EventKind.PAYMENT_CAPTURED,
        "payment_intent.payment_failed": EventKind.PAYMENT_FAILED,
        "payment_intent.canceled": EventKind.PAYMENT_CANCELED,
        # Refund objects (id re_...), matched to our refund by that id. charge.refunded
        # carries the charge, not which refund, so it is not delivered. A refund that
        # fails (even after it succeeded) is reported by refund.failed and by
        # charge.refund.updated / refund.updated with status failed:
        # https://docs.stripe.com/refunds#failed-refunds
        "refund.failed": EventKind.REFUND_FAILED,
        "refund.created": EventKind.REFUND_SUCCEEDED,  # by status: refund_kind
        "charge.refund.updated": EventKind.REFUND_SUCCEEDED,  # by status: refund_kind
        "refund.updated": EventKind.REFUND_SUCCEEDED,  # by status: refund_kind
    },
    "braintree": {
        "transaction_settled": EventKind.ACH_SETTLED,
        "transaction_settlement_declined": EventKind.ACH_RETURNED,
    },
}

# Braintree's transaction webhooks for a credit (our refund): it moved the money once
# settled, and never will once the processor declined to settle it (response 4001:
# https://developer.paypal.com/braintree/docs/reference/general/webhooks/transaction ,
# https://developer.paypal.com/braintree/docs/reference/general/processor-responses/settlement-responses/).
BRAINTREE_CREDIT_KINDS: Final[dict[str, EventKind]] = {
    "transaction_settled": EventKind.REFUND_SUCCEEDED,
    "transaction_settlement_declined": EventKind.REFUND_FAILED,
}


# A Stripe refund object's status (https://docs.stripe.com/api/refunds/object#refund_object-status)
# decides what an update of it reports; pending / requires_action report nothing yet.
_REFUND_STATUS_KINDS: Final[dict[str, EventKind]] = {
    "succeeded": EventKind.REFUND_SUCCEEDED,
    "failed": EventKind.REFUND_FAILED,
    "canceled": EventKind.REFUND_FAILED,
}


def webhook_kind(provider: str, event_type: str, status: str | None = None) -> EventKind | None:
    """The kind of a provider's webhook, or None when no payment acts on it.

    `status` is the object's status, for event types whose meaning depends on it (a
    refund's update reports its new status).
    """
    kind = WEBHOOK_KINDS.get(provider, {}).get(event_type)
    if kind is EventKind.REFUND_SUCCEEDED and status is not None:
        return _REFUND_STATUS_KINDS.get(status)
    return kind


class EventIntent(StrEnum):
    """What a gateway event asks of a payment, given its status and method."""

    NONE = "none"  # too early, too late, or not for this kind of payment
    GATEWAY_ANSWER = "gateway_answer"  # answers the pending authorization or customer action
    CANCELED_AT_GATEWAY = "canceled_at_gateway"  # the authorization awaiting capture is gone
    DEBIT_SETTLED = "debit_settled"  # an ACH debit settled
    CHARGE_SETTLED = "charge_settled"  # a captured card charge settled
    DEBIT_RETURNED = "debit_returned"  # an ACH debit came back (R01 ...)
    SETTLEMENT_EXCEPTION = "settlement_exception"  # reconciliation found a mismatch
    REFUND_STATUS = "refund_status"  # a refund succeeded or failed at the gateway
    # A charge reported after the authorization was settled, that is not the one the
    # payment holds (a late success of an attempt we resolved otherwise): to be voided
    # or refunded, never dropped.
    UNMATCHED_CHARGE = "unmatched_charge"


def event_intent(
    kind: EventKind,
    status: PaymentStatus,
    method_type: str,
    *,
    reference: str | None = None,
    held_reference: str | None = None,
) -> EventIntent:
    """Map an event of `kind` to an intent for a payment in `status` paid by `method_type`.

    `reference` is the event's gateway reference and `held_reference` the one the payment
    holds; when given, a charge reported outside the wait for an answer is compared.
    """
    ach = method_type == "ach"
    if ach and status == PaymentStatus.PROCESSING:
        # Stripe reports a submitted debit settling as payment_intent.succeeded, and
        # failing after submission (a return) as payment_intent.payment_failed.
        if kind == EventKind.PAYMENT_CAPTURED:
            kind = EventKind.ACH_SETTLED
        elif kind == EventKind.PAYMENT_FAILED:
            kind = EventKind.ACH_RETURNED
    if kind in (EventKind.PAYMENT_AUTHORIZED, EventKind.PAYMENT_CAPTURED):
        waiting = status in (PaymentStatus.AUTHORIZING, PaymentStatus.REQUIRES_ACTION)
        if waiting:
            return EventIntent.GATEWAY_ANSWER
        if reference is not None and reference != held_reference:
            return EventIntent.UNMATCHED_CHARGE
        return EventIntent.NONE
    if kind == EventKind.PAYMENT_FAILED:
        waiting = status == PaymentStatus.REQUIRES_ACTION
        return EventIntent.GATEWAY_ANSWER if waiting else EventIntent.NONE
    if kind == EventKind.PAYMENT_CANCELED:
        awaiting = status == PaymentStatus.AWAITING_CAPTURE
        return EventIntent.CANCELED_AT_GATEWAY if awaiting else EventIntent.NONE
    if kind == EventKind.ACH_SETTLED:
        if ach:
            return EventIntent.DEBIT_SETTLED
        # A card capture's settlement report.
        captured = status == PaymentStatus.CAPTURED
        return EventIntent.CHARGE_SETTLED if captured else EventIntent.NONE
    if kind == EventKind.ACH_RETURNED:
        open_debit = ach and not is_final(status)
        return EventIntent.DEBIT_RETURNED if open_debit else EventIntent.NONE
    if kind == EventKind.SETTLEMENT_MATCHED:
        # Reconciliation confirmed the money; a final state never moves backwards.
        advances = may_advance(status, PaymentStatus.SETTLED)
        captured = advances and status == PaymentStatus.CAPTURED
        return EventIntent.CHARGE_SETTLED if captured else EventIntent.NONE
    if kind == EventKind.SETTLEMENT_EXCEPTION:
        return EventIntent.SETTLEMENT_EXCEPTION
    if kind in (EventKind.REFUND_SUCCEEDED, EventKind.REFUND_FAILED):
        return EventIntent.REFUND_STATUS
    return EventIntent.NONE  # requires_action: the authorize response already said so
