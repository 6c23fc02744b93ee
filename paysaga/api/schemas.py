"""HTTP request bodies: strict Pydantic models whose errors carry our stable codes.

Amounts are strict integers (floats, numeric strings and booleans are refused),
currencies ISO 4217 from `domain.money`, ids match their regexes. No string anywhere in
a body (a known field, an unknown one, a key) may hold a card number: that is refused
first, as 422 `card_number_not_accepted` naming the field (domain.pan).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from paysaga.client.ids import CUSTOMER_ID_RE, PERIOD_RE
from paysaga.domain.bank_accounts import BANK_ACCOUNT_ID_RE
from paysaga.domain.money import CURRENCY_EXPONENTS, MAX_AMOUNT_MINOR
from paysaga.domain.pan import CARD_NUMBER_MESSAGE, CardNumberNotAccepted, pan_field


def _amount(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError(
            "invalid_amount", "amount must be an integer number of minor units"
        )
    if value <= 0:
        raise PydanticCustomError("invalid_amount", "amount must be positive")
    if value > MAX_AMOUNT_MINOR:
        raise PydanticCustomError(
            "invalid_amount", "amount exceeds the limit of {limit}", {"limit": MAX_AMOUNT_MINOR}
        )
    return value


def _currency(value: str) -> str:
    if value not in CURRENCY_EXPONENTS:
        raise PydanticCustomError(
            "unknown_currency", "not a supported ISO 4217 currency code (e.g. USD, EUR, JPY)"
        )
    return value


def _pattern(regex: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise PydanticCustomError("invalid_id", "not a valid {what}", {"what": what})
        return value

    return AfterValidator(check)


# `Any` + our own check, so the error code is ours and no coercion happens.
AmountMinor = Annotated[Any, AfterValidator(_amount), Field(json_schema_extra={"type": "integer"})]
Currency = Annotated[StrictStr, AfterValidator(_currency)]
CustomerId = Annotated[StrictStr, _pattern(CUSTOMER_ID_RE, "customer id")]
PaymentMethod = Annotated[
    StrictStr, _pattern(re.compile(r"^[A-Za-z0-9_\-]{1,200}$"), "payment method token")
]
Period = Annotated[StrictStr, _pattern(PERIOD_RE, "date (YYYY-MM-DD)")]
BankAccountId = Annotated[StrictStr, _pattern(BANK_ACCOUNT_ID_RE, "bank account id")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_card_numbers(cls, data: Any) -> Any:
        # Before any field check, so a card number is refused as one whatever the field.
        field = pan_field(data)
        if field is not None:
            raise PydanticCustomError(
                CardNumberNotAccepted.code, "{field} " + CARD_NUMBER_MESSAGE, {"field": field}
            )
        return data


class CreatePaymentBody(_Strict):
    amount_minor: AmountMinor
    currency: Currency
    customer_id: CustomerId
    payment_method: PaymentMethod | None = Field(None, description="Card: pm_... / nonce")
    bank_account_id: BankAccountId | None = Field(
        None, description="ACH: the customer's onboarded bank account (bank_...)"
    )
    gateway: Literal["stripe", "braintree", "ach"] | None = None
    capture: StrictBool = Field(False, description="Capture immediately after authorization")
    description: StrictStr = Field("", max_length=500)
    balance_check: StrictBool = Field(
        False, description="ACH: decline when Plaid Balance says the account is short"
    )

    # Added after idempotency records stored body hashes: left out while unused, so a
    # body sent before they existed hashes the same.
    ADDED_LATER: ClassVar[dict[str, object]] = {
        "bank_account_id": None,
        "balance_check": False,
        "payment_method": None,
    }

    def idempotency_body(self) -> dict[str, Any]:
        body = self.model_dump(mode="json")
        for name, default in self.ADDED_LATER.items():
            if body.get(name) == default:
                body.pop(name)
        return body


class BankAccountActionBody(_Strict):
    reason: StrictStr = Field("", max_length=200)


class SandboxPublicTokenBody(_Strict):
    institution_id: StrictStr = Field("ins_109508", min_length=1, max_length=50)
    override_username: StrictStr = Field("user_good", min_length=1, max_length=100)
    override_password: StrictStr = Field("pass_good", min_length=1, max_length=20_000)


class RefundBody(_Strict):
    amount_minor: AmountMinor
    reason: StrictStr = Field("", max_length=200)


class CaptureBody(_Strict):
    amount_minor: AmountMinor | None = Field(None, description="Partial capture; default all")


class StartOnboardingBody(_Strict):
    customer_id: CustomerId
    email: StrictStr = Field(..., min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    name: StrictStr = Field(..., min_length=1, max_length=200)


class CompleteOnboardingBody(_Strict):
    public_token: StrictStr = Field(..., min_length=1, max_length=300, pattern=r"^[A-Za-z0-9_\-]+$")


class ReconciliationBody(_Strict):
    period: Period
