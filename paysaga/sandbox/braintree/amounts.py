"""Amounts as the Braintree gateway writes them: decimal strings in major units."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from paysaga.domain.money import CURRENCY_EXPONENTS, MAX_AMOUNT_MINOR
from paysaga.sandbox.braintree.errors import ApiError


def parse_amount(raw: object, currency: str, scope: tuple[str, ...]) -> int:
    """Decimal string -> minor units, exactly; the gateway's validation errors otherwise."""
    if raw is None or raw == "":
        raise ApiError("Amount is required.", scope=scope, attribute="amount", code="81502")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ApiError(
            "Amount is an invalid format.", scope=scope, attribute="amount", code="81503"
        )
    if value < 0:
        raise ApiError("Amount cannot be negative.", scope=scope, attribute="amount", code="81501")
    minor = value.scaleb(CURRENCY_EXPONENTS[currency])
    if minor != minor.to_integral_value():
        raise ApiError(
            "Amount is an invalid format.", scope=scope, attribute="amount", code="81503"
        )
    if minor == 0:
        raise ApiError(
            "Amount must be greater than zero.", scope=scope, attribute="amount", code="81531"
        )
    if minor > MAX_AMOUNT_MINOR:
        raise ApiError("Amount is too large.", scope=scope, attribute="amount", code="81528")
    return int(minor)


def format_amount(minor: int, currency: str) -> str:
    return str(Decimal(minor).scaleb(-CURRENCY_EXPONENTS[currency]))
