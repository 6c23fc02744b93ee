"""Braintree's transaction records read as our payloads (no calls: the adapter makes those).

Amounts arrive as decimals ("10.00") and become integer minor units exactly
(domain.money); settled sales are priced with our fee schedule (domain.settlement_fees).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from paysaga.domain.errors import InvalidAmount
from paysaga.domain.money import decimal_to_minor
from paysaga.domain.settlement_fees import FeeSchedule
from paysaga.gateways.braintree_errors import GATEWAY, failed_sale_code
from paysaga.gateways.errors import GatewayError
from paysaga.gateways.types import (
    GatewayPayment,
    GatewayPaymentState,
    RefundResult,
    SettledTransaction,
)

CAPTURED = {"submitted_for_settlement", "settling", "settlement_pending", "settlement_confirmed"}
FAILED = {"processor_declined", "gateway_rejected", "failed", "authorization_expired"}
_STATES: dict[str, GatewayPaymentState] = {
    "authorizing": GatewayPaymentState.PROCESSING,
    "authorized": GatewayPaymentState.AUTHORIZED,
    **dict.fromkeys(CAPTURED, GatewayPaymentState.CAPTURED),
    "settled": GatewayPaymentState.SETTLED,
    "voided": GatewayPaymentState.CANCELED,
    "settlement_declined": GatewayPaymentState.FAILED,
    "settlement_failed": GatewayPaymentState.FAILED,
    **dict.fromkeys(FAILED, GatewayPaymentState.FAILED),
}


def to_minor(amount: Any, currency: str) -> int:
    """A gateway amount (Decimal or decimal string) in minor units; GatewayError if unusable."""
    try:
        return decimal_to_minor(amount, currency)
    except InvalidAmount as exc:
        raise GatewayError(exc.message, gateway=GATEWAY) from None


def payment(txn: Any, refunded_minor: int = 0) -> GatewayPayment:
    """A sale as our GatewayPayment; `refunded_minor` comes from its refunds, read apart."""
    currency = txn.currency_iso_code
    state = _STATES.get(txn.status, GatewayPaymentState.PROCESSING)
    authorized = next(
        (e.amount for e in txn.status_history if e.status == "authorized"), txn.amount
    )
    captured = 0
    if state in (GatewayPaymentState.CAPTURED, GatewayPaymentState.SETTLED):
        captured = to_minor(txn.amount, currency)
    decline = failed_sale_code(txn) if state is GatewayPaymentState.FAILED else None
    return GatewayPayment(
        gateway=GATEWAY,
        reference=txn.id,
        payment_id=txn.order_id or "",
        state=state,
        amount_minor=to_minor(authorized, currency),
        captured_minor=captured,
        refunded_minor=refunded_minor,
        currency=currency,
        decline_code=decline,
    )


# A credit (refund) moves money only once it settles; until then it is pending and can
# still be declined by the processor (settlement response 4001, "declined to settle the
# sale or refund request":
# https://developer.paypal.com/braintree/docs/reference/general/processor-responses/settlement-responses/
# and the statuses at https://developer.paypal.com/braintree/docs/reference/general/statuses).
CREDIT_SUCCEEDED = frozenset({"settled", "settlement_confirmed"})
CREDIT_FAILED = frozenset({*FAILED, "settlement_declined", "settlement_failed", "voided"})


def refund_status(credit: Any) -> str:
    """succeeded | pending | failed, as our refunds read them."""
    if credit.status in CREDIT_SUCCEEDED:
        return "succeeded"
    return "failed" if credit.status in CREDIT_FAILED else "pending"


def refund(credit: Any) -> RefundResult:
    status = refund_status(credit)
    return RefundResult(
        GATEWAY,
        credit.id,
        credit.refunded_transaction_id,
        to_minor(credit.amount, credit.currency_iso_code),
        credit.currency_iso_code,
        status,
    )


def settled_rows(
    found: list[Any],
    originals: Mapping[str, str | None],
    fees: FeeSchedule,
    start: datetime,
    end: datetime,
) -> list[SettledTransaction]:
    """Sales and refunds of `found` settled in [start, end), oldest first.

    `originals` maps a refunded sale's id to our payment id; sales are priced by `fees`.
    """
    start_utc, end_utc = utc(start), utc(end)
    rows: list[SettledTransaction] = []
    for txn in found:
        settled_at = _status_time(txn, "settled")
        if txn.status != "settled" or settled_at is None:
            continue
        if not start_utc <= settled_at < end_utc:
            continue
        amount = to_minor(txn.amount, txn.currency_iso_code)
        extra = {
            "settlement_batch_id": txn.settlement_batch_id or "",
            "merchant_account_id": txn.merchant_account_id,
        }
        if txn.type == "credit":
            parent = txn.refunded_transaction_id
            rows.append(
                SettledTransaction(
                    GATEWAY,
                    parent,
                    originals.get(parent),
                    "refund",
                    amount,
                    0,
                    txn.currency_iso_code,
                    settled_at,
                    refund_reference=txn.id,
                    extra=extra,
                )
            )
        else:
            rows.append(
                SettledTransaction(
                    GATEWAY,
                    txn.id,
                    txn.order_id or None,
                    "charge",
                    amount,
                    fees.fee(amount),
                    txn.currency_iso_code,
                    settled_at,
                    extra=extra,
                )
            )
    return sorted(rows, key=lambda row: (row.settled_at, row.reference))


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _status_time(txn: Any, status: str) -> datetime | None:
    for event in reversed(txn.status_history):
        if event.status == status:
            stamp: datetime = event.timestamp
            return utc(stamp)
    return None
