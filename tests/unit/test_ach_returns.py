"""Issue 15 item 3: an ACH return's R-code, read from Stripe's failure codes (the one table
in paysaga.domain.ach_returns), so the payment shows the code the bank sent."""

from __future__ import annotations

from typing import Any

import pytest

from paysaga.api.webhook_events import stripe_event
from paysaga.domain import ach_returns

PAYMENT_ID = "payment-mer_0123456789abcdef.order-1"


def _failed(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return {"id": "evt_1", "type": type_, "created": 1, "data": {"object": obj}}


@pytest.mark.parametrize(
    ("r_code", "failure_code"),
    [
        ("R01", "insufficient_funds"),
        ("R02", "account_closed"),
        ("R03", "no_account"),
        ("R10", "debit_not_authorized"),
    ],
)
def test_stripe_return_carries_its_r_code(r_code: str, failure_code: str) -> None:
    """Before: the normaliser kept only `decline_code` (which Stripe does not set on an ACH
    return), so every return reached the workflow as its default, R01."""
    assert ach_returns.FAILURE_CODES[r_code] == failure_code
    assert ach_returns.return_code(failure_code) == r_code
    intent = {
        "object": "payment_intent",
        "id": "pi_1",
        "amount": 2500,
        "metadata": {"payment_id": PAYMENT_ID},
        "last_payment_error": {"type": "invalid_request_error", "code": failure_code},
    }
    normalised = stripe_event(_failed(intent, "payment_intent.payment_failed"))
    assert normalised.event is not None
    assert normalised.event.data["return_code"] == r_code


def test_a_card_decline_is_no_return() -> None:
    assert ach_returns.return_code("card_declined") is None
    assert ach_returns.return_code(None) is None
