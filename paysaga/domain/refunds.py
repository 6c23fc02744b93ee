"""Refund updates and their records, and the rule for how much may be refunded.

Temporal's default converter (de)serialises these by type hints, so every field is
typed precisely: ints for money, tuples for sequences, datetimes in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from paysaga.domain.errors import ValidationError
from paysaga.domain.money import validate_amount, validate_currency
from paysaga.domain.pan import refuse_card_numbers
from paysaga.domain.status import PaymentStatus

if TYPE_CHECKING:  # payments imports this module for RefundRecord
    from paysaga.domain.payments import PaymentView


@dataclass(frozen=True)
class RefundRequest:
    request_id: str
    amount_minor: int
    currency: str
    reason: str = ""


@dataclass(frozen=True)
class RefundRecord:
    request_id: str
    amount_minor: int
    reference: str
    status: str
    at: datetime


@dataclass(frozen=True)
class RefundOutcome:
    request_id: str
    reference: str
    amount_minor: int
    currency: str
    status: str
    refunded_total_minor: int


def check_refund(view: PaymentView, request: RefundRequest, reserved_minor: int = 0) -> None:
    """Refund only after capture, never beyond captured minus refunded, same currency."""
    refuse_card_numbers(request)
    if not request.request_id:
        raise ValidationError("request_id is required", field="request_id")
    validate_amount(request.amount_minor)
    validate_currency(request.currency)
    if view.status not in (
        PaymentStatus.CAPTURED,
        PaymentStatus.SETTLED,
        PaymentStatus.PARTIALLY_REFUNDED,
    ):
        raise ValidationError(f"cannot refund a payment in status {view.status}", field="status")
    if request.currency != view.currency:
        raise ValidationError(
            f"refund currency {request.currency} differs from payment currency {view.currency}",
            field="currency",
        )
    available = view.captured_minor - view.refunded_minor - reserved_minor
    if request.amount_minor > available:
        raise ValidationError(
            f"refund of {request.amount_minor} exceeds the refundable {available}",
            field="amount_minor",
        )
