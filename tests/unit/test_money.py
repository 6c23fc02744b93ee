from __future__ import annotations

import pytest

from paysaga.domain.errors import InvalidAmount, UnknownCurrency
from paysaga.domain.money import MAX_AMOUNT_MINOR, Money, validate_amount, validate_currency


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
