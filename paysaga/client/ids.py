"""Shapes of our identifiers and the merchant-namespaced payment id scheme.

A payment id IS its workflow id: `payment-{merchant_id}.{idempotency_key}`
(built with `domain.names.payment_workflow_id("{merchant_id}.{key}")`). So the
same merchant + Idempotency-Key always lands on the same workflow (Temporal
rejects a second start), two merchants using the same key never collide, and
the API can tell from the id alone that a payment is not the caller's (404).
The workflow's `MerchantId` search attribute is checked as well.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

from paysaga.domain.errors import ValidationError
from paysaga.domain.names import payment_workflow_id
from paysaga.domain.pan import contains_pan, refuse_pan

MERCHANT_ID_RE: Final = re.compile(r"^mer_[0-9a-f]{16}$")
# Idempotency keys: what clients commonly send (uuids, ulids, order ids), no dots.
IDEMPOTENCY_KEY_RE: Final = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")
PAYMENT_ID_RE: Final = re.compile(r"^payment-(mer_[0-9a-f]{16})\.([A-Za-z0-9_\-]{1,100})$")
CUSTOMER_ID_RE: Final = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
ACCOUNT_ID_RE: Final = re.compile(r"^[A-Za-z0-9_\-:.]{1,128}$")
ONBOARDING_ID_RE: Final = re.compile(r"^onboarding-(mer_[0-9a-f]{16})\.([A-Za-z0-9_\-]{1,100})$")
PERIOD_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def new_merchant_id() -> str:
    # It goes into every id, search attribute and ledger key of the merchant: never one
    # that reads as a card number (16 hex digits that are all decimal and pass Luhn).
    while True:
        merchant_id = f"mer_{secrets.token_hex(8)}"
        if not contains_pan(merchant_id):
            return merchant_id


def check(pattern: re.Pattern[str], value: object, field: str, what: str) -> str:
    """`value` if it matches `pattern`; a card number is refused as such (it would
    become a workflow id, a search attribute or a ledger key)."""
    refuse_pan(value, field)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValidationError(f"{field} is not a valid {what}", field=field)
    return value


def payment_id_for(merchant_id: str, idempotency_key: str) -> str:
    check(MERCHANT_ID_RE, merchant_id, "merchant_id", "merchant id")
    check(IDEMPOTENCY_KEY_RE, idempotency_key, "Idempotency-Key", "idempotency key")
    return payment_workflow_id(f"{merchant_id}.{idempotency_key}")


def merchant_of_payment(payment_id: str) -> str | None:
    """The merchant a payment id belongs to, or None if it is not a payment id."""
    match = PAYMENT_ID_RE.fullmatch(payment_id)
    return match.group(1) if match else None


def onboarding_id_for(merchant_id: str, key: str) -> str:
    check(MERCHANT_ID_RE, merchant_id, "merchant_id", "merchant id")
    check(IDEMPOTENCY_KEY_RE, key, "Idempotency-Key", "idempotency key")
    return f"onboarding-{merchant_id}.{key}"


def merchant_of_onboarding(onboarding_id: str) -> str | None:
    match = ONBOARDING_ID_RE.fullmatch(onboarding_id)
    return match.group(1) if match else None
