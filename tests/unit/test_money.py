from __future__ import annotations

from decimal import Decimal

import pytest

from paysaga.domain.errors import InvalidAmount, UnknownCurrency
from paysaga.domain.money import (
    MAX_AMOUNT_MINOR,
    Money,
    decimal_to_minor,
    minor_to_decimal,
    validate_amount,
    validate_currency,
)


@pytest.mark.parametrize("bad", [0, -1, 1.5, 10.0, True, "100", None, MAX_AMOUNT_MINOR + 1])
def test_validate_amount_refuses_non_money(bad: object) -> None:
    with pytest.raises(InvalidAmount) as info:
        validate_amount(bad)
    assert info.value.code == "invalid_amount"
    assert info.value.field == "amount_minor"


@pytest.mark.parametrize("bad", ["usd", "XXX", "", 840, None])
def test_validate_currency_refuses_unknown(bad: object) -> None:
    with pytest.raises(UnknownCurrency):
        validate_currency(bad)


def test_money_formats_by_currency_exponent() -> None:
    assert Money(12345, "USD").format() == "123.45 USD"
    assert Money(500, "JPY").format() == "500 JPY"
    assert Money(-1001, "KWD").format() == "-1.001 KWD"


def test_money_refuses_float() -> None:
    with pytest.raises(InvalidAmount):
        Money(1.0, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(1000, "USD", "10.00"), (5, "USD", "0.05"), (0, "USD", "0.00"), (1500, "JPY", "1500")],
)
def test_minor_units_as_decimal_strings(minor: int, currency: str, text: str) -> None:
    assert minor_to_decimal(minor, currency) == text
    assert decimal_to_minor(text, currency) == minor


def test_decimal_conversion_is_exact_beyond_float_and_context_precision() -> None:
    huge = 10**40 + 7  # more digits than a float or the default decimal context holds
    assert minor_to_decimal(huge, "USD") == f"{huge // 100}.07"
    assert decimal_to_minor(minor_to_decimal(huge, "KWD"), "KWD") == huge
    assert decimal_to_minor(Decimal("1E+3"), "USD") == 100_000
    assert decimal_to_minor("-5.10", "USD") == -510


@pytest.mark.parametrize("bad", ["1.234", "abc", "NaN", "Infinity", 1.5, ""])
def test_decimal_to_minor_refuses_what_is_not_exact_money(bad: object) -> None:
    with pytest.raises(InvalidAmount):
        decimal_to_minor(bad, "USD")  # type: ignore[arg-type]
