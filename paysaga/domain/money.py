"""Money as integer minor units plus an ISO 4217 currency code."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from paysaga.domain.errors import InvalidAmount, UnknownCurrency

# ISO 4217 exponent (digits after the decimal point) for the currencies we accept.
CURRENCY_EXPONENTS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "HUF": 2,
    "RON": 2,
    "BGN": 2,
    "MXN": 2,
    "BRL": 2,
    "SGD": 2,
    "HKD": 2,
    "INR": 2,
    "CNY": 2,
    "ZAR": 2,
    "ILS": 2,
    "AED": 2,
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "ISK": 0,
    "VND": 0,
    "BHD": 3,
    "KWD": 3,
    "JOD": 3,
    "OMR": 3,
    "TND": 3,
}

# Largest amount one payment may carry: 10^12 minor units (10 billion dollars).
MAX_AMOUNT_MINOR = 10**12


def validate_currency(currency: object, field: str = "currency") -> str:
    if not isinstance(currency, str) or currency not in CURRENCY_EXPONENTS:
        raise UnknownCurrency(f"{currency!r} is not a supported ISO 4217 currency", field=field)
    return currency


def validate_amount(amount_minor: object, field: str = "amount_minor") -> int:
    # bool is an int subclass; a float is never money.
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise InvalidAmount(
            f"amount must be an integer number of minor units, got {type(amount_minor).__name__}",
            field=field,
        )
    if amount_minor <= 0:
        raise InvalidAmount("amount must be positive", field=field)
    if amount_minor > MAX_AMOUNT_MINOR:
        raise InvalidAmount(f"amount exceeds the limit of {MAX_AMOUNT_MINOR}", field=field)
    return amount_minor


def minor_to_decimal(amount_minor: int, currency: str) -> str:
    """Integer minor units -> a decimal string with the currency's digits ("10.00", "1500").

    Built from the string "<minor>E-<exponent>", which Decimal reads exactly: no
    context rounding, however large the amount.
    """
    return str(Decimal(f"{amount_minor}E-{CURRENCY_EXPONENTS[currency]}"))


def decimal_to_minor(amount: str | Decimal, currency: str) -> int:
    """A decimal amount ("10.00", Decimal("10.00")) -> integer minor units, exactly.

    Integer arithmetic on the decimal's digits: no float and no context rounding. A
    value with digits below the currency's minor unit is refused, never rounded.
    """
    if isinstance(amount, float):  # a float is never money (and never exact)
        raise InvalidAmount(f"malformed amount {amount!r}")
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise InvalidAmount(f"malformed amount {amount!r}") from None
    if not value.is_finite():
        raise InvalidAmount(f"malformed amount {amount!r}")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    units = int("".join(map(str, digits))) * (-1 if sign else 1)
    shift = exponent + CURRENCY_EXPONENTS[currency]
    scale: int = 10 ** abs(shift)
    if shift >= 0:
        return units * scale
    whole, rest = divmod(abs(units), scale)
    if rest:
        raise InvalidAmount(f"amount {amount} has sub-minor digits")
    return whole if units >= 0 else -whole


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise InvalidAmount("amount must be an integer number of minor units")
        validate_currency(self.currency)

    def format(self) -> str:
        exponent = CURRENCY_EXPONENTS[self.currency]
        sign = "-" if self.amount_minor < 0 else ""
        units, minor = divmod(abs(self.amount_minor), 10**exponent)
        if exponent == 0:
            return f"{sign}{units} {self.currency}"
        return f"{sign}{units}.{minor:0{exponent}d} {self.currency}"
