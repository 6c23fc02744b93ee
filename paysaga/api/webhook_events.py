"""Turn a verified provider webhook into (event id, type, payment id, GatewayEvent).

Stripe events carry our payment id in the PaymentIntent/Charge metadata, Braintree
transactions in `order_id`. Which provider types map to which EventKind is
`domain.events.webhook_kind`; events without a mapping are recorded but not delivered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from paysaga.client.ids import PAYMENT_ID_RE
from paysaga.domain import ach_returns
from paysaga.domain.events import BRAINTREE_CREDIT_KINDS, GatewayEvent, webhook_kind
from paysaga.gateways.braintree_webhooks import BraintreeEvent


@dataclass(frozen=True)
class Normalised:
    event_id: str
    event_type: str
    payment_id: str | None  # the workflow to signal, when the event maps to a payment
    event: GatewayEvent | None


def _payment_id(value: object) -> str | None:
    return value if isinstance(value, str) and PAYMENT_ID_RE.fullmatch(value) else None


def _str(value: object, limit: int = 200) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def stripe_event(event: dict[str, Any]) -> Normalised:
    event_id = _str(event.get("id")) or "unknown"
    event_type = _str(event.get("type"), 100) or "unknown"
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    obj = obj if isinstance(obj, dict) else {}
    raw_metadata = obj.get("metadata")
    metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    payment_id = _payment_id(metadata.get("payment_id"))
    is_refund = obj.get("object") == "refund"
    status = _str(obj.get("status"), 40) if is_refund else None
    kind = webhook_kind("stripe", event_type, status)
    if kind is None or payment_id is None:
        return Normalised(event_id, event_type, payment_id, None)
    created = _int(event.get("created"))
    is_charge = obj.get("object") == "charge"
    by_intent = is_charge or is_refund  # the payment is the object's PaymentIntent
    reference = _str(obj.get("payment_intent") if by_intent else obj.get("id")) or None
    amount = _int(obj.get("amount_refunded") if is_charge else obj.get("amount"))
    extra = {"stripe_type": event_type}
    if is_refund:
        # The workflow matches a refund report by the refund's own id (re_...).
        extra["refund_reference"] = _str(obj.get("id"))
        extra["refund_status"] = status or ""
    error = obj.get("last_payment_error")
    if isinstance(error, dict) and _str(error.get("decline_code")):
        extra["decline_code"] = _str(error.get("decline_code"))
    # An ACH return: the R-code from Stripe's failure code (the intent's error or the charge's).
    failure = _str(error.get("code")) if isinstance(error, dict) else None
    r_code = ach_returns.return_code(failure or _str(obj.get("failure_code")))
    if r_code is not None:
        extra["return_code"] = r_code
    gateway_event = GatewayEvent(
        event_id=event_id,
        gateway="stripe",
        kind=kind,
        occurred_at=datetime.fromtimestamp(created, UTC) if created else datetime.now(UTC),
        reference=reference,
        payment_id=payment_id,
        amount_minor=amount,
        data=extra,
    )
    return Normalised(event_id, event_type, payment_id, gateway_event)


def braintree_event(event: BraintreeEvent) -> Normalised:
    if event.transaction_type == "credit":
        return _braintree_credit(event)
    payment_id = _payment_id(event.order_id)
    kind = webhook_kind("braintree", event.kind)
    if kind is None or payment_id is None:
        return Normalised(event.event_id, event.kind, payment_id, None)
    gateway_event = GatewayEvent(
        event_id=event.event_id,
        gateway="braintree",
        kind=kind,
        occurred_at=event.timestamp,
        reference=event.transaction_id,
        payment_id=payment_id,
        data={"status": event.transaction_status or ""},
    )
    return Normalised(event.event_id, event.kind, payment_id, gateway_event)


def _braintree_credit(event: BraintreeEvent) -> Normalised:
    """A refund (credit) settled or declined: its order id is our refund's idempotency
    key, `{payment_id}:{step}`; the workflow matches the report by the credit's id."""
    payment_id = _payment_id((event.order_id or "").partition(":")[0])
    kind = BRAINTREE_CREDIT_KINDS.get(event.kind)
    if kind is None or payment_id is None or not event.transaction_id:
        return Normalised(event.event_id, event.kind, payment_id, None)
    gateway_event = GatewayEvent(
        event_id=event.event_id,
        gateway="braintree",
        kind=kind,
        occurred_at=event.timestamp,
        reference=event.refunded_transaction_id,
        payment_id=payment_id,
        data={
            "status": event.transaction_status or "",
            "refund_reference": _str(event.transaction_id),
        },
    )
    return Normalised(event.event_id, event.kind, payment_id, gateway_event)


def plaid_event(body: bytes, payload: dict[str, Any]) -> Normalised:
    """Plaid sends no event id: the body hash identifies a delivery (redeliveries match)."""
    event_type = f"{_str(payload.get('webhook_type'), 40)}.{_str(payload.get('webhook_code'), 40)}"
    event_id = f"{_str(payload.get('item_id'), 80)}:{hashlib.sha256(body).hexdigest()[:32]}"
    return Normalised(event_id, event_type, None, None)
