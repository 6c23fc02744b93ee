"""domain.events: provider webhook types to kinds, and what an event means for a payment."""

from __future__ import annotations

import pytest

from paysaga.domain.events import EventIntent, EventKind, event_intent, webhook_kind
from paysaga.domain.status import PaymentStatus

K, S, Do = EventKind, PaymentStatus, EventIntent


def test_webhook_kinds() -> None:
    assert webhook_kind("stripe", "payment_intent.succeeded") == K.PAYMENT_CAPTURED
    # charge.refunded names no refund: refunds are reported by their own events.
    assert webhook_kind("stripe", "charge.refunded") is None
    assert webhook_kind("stripe", "refund.failed") == K.REFUND_FAILED
    assert webhook_kind("stripe", "charge.refund.updated", "failed") == K.REFUND_FAILED
    assert webhook_kind("stripe", "refund.updated", "succeeded") == K.REFUND_SUCCEEDED
    assert webhook_kind("stripe", "refund.updated", "pending") is None
    assert webhook_kind("braintree", "transaction_settlement_declined") == K.ACH_RETURNED
    assert webhook_kind("stripe", "customer.created") is None
    assert webhook_kind("braintree", "payment_intent.succeeded") is None
    assert webhook_kind("plaid", "TRANSACTIONS.DEFAULT_UPDATE") is None


@pytest.mark.parametrize(
    ("kind", "status", "method", "intent"),
    [
        # The authorization (or 3DS) wait takes a webhook as the gateway's answer.
        (K.PAYMENT_CAPTURED, S.AUTHORIZING, "card", Do.GATEWAY_ANSWER),
        (K.PAYMENT_AUTHORIZED, S.REQUIRES_ACTION, "card", Do.GATEWAY_ANSWER),
        (K.PAYMENT_FAILED, S.REQUIRES_ACTION, "card", Do.GATEWAY_ANSWER),
        (K.PAYMENT_FAILED, S.AUTHORIZING, "card", Do.NONE),  # the response decides
        (K.PAYMENT_CAPTURED, S.CAPTURED, "card", Do.NONE),  # late: already known
        (K.PAYMENT_REQUIRES_ACTION, S.AUTHORIZING, "card", Do.NONE),
        (K.PAYMENT_CANCELED, S.AWAITING_CAPTURE, "card", Do.CANCELED_AT_GATEWAY),
        (K.PAYMENT_CANCELED, S.CAPTURED, "card", Do.NONE),
        # Stripe reports a submitted debit's settlement and return as payment events.
        (K.PAYMENT_CAPTURED, S.PROCESSING, "ach", Do.DEBIT_SETTLED),
        (K.PAYMENT_FAILED, S.PROCESSING, "ach", Do.DEBIT_RETURNED),
        (K.ACH_SETTLED, S.PENDING, "ach", Do.DEBIT_SETTLED),
        (K.ACH_SETTLED, S.CAPTURED, "card", Do.CHARGE_SETTLED),
        (K.ACH_SETTLED, S.REFUNDED, "card", Do.NONE),
        (K.ACH_RETURNED, S.SETTLED, "ach", Do.DEBIT_RETURNED),
        (K.ACH_RETURNED, S.RETURNED, "ach", Do.NONE),  # final
        (K.ACH_RETURNED, S.CAPTURED, "card", Do.NONE),
        # Reconciliation moves a payment forward only.
        (K.SETTLEMENT_MATCHED, S.CAPTURED, "card", Do.CHARGE_SETTLED),
        (K.SETTLEMENT_MATCHED, S.SETTLED, "card", Do.NONE),
        (K.SETTLEMENT_MATCHED, S.PARTIALLY_REFUNDED, "card", Do.NONE),
        (K.SETTLEMENT_EXCEPTION, S.REFUNDED, "card", Do.SETTLEMENT_EXCEPTION),
        (K.REFUND_SUCCEEDED, S.REFUNDED, "card", Do.REFUND_STATUS),
        (K.REFUND_FAILED, S.PARTIALLY_REFUNDED, "ach", Do.REFUND_STATUS),
    ],
)
def test_event_intent(
    kind: EventKind, status: PaymentStatus, method: str, intent: EventIntent
) -> None:
    assert event_intent(kind, status, method) == intent
