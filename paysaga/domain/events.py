"""Gateway webhooks, normalised by the API's webhook ingress into one event type.

Temporal's default converter (de)serialises these by type hints, so every field is
typed precisely: ints for money, tuples for sequences, datetimes in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


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
