"""Braintree's test nonces and amounts, and what a card does when charged."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from paysaga.domain.money import CURRENCY_EXPONENTS
from paysaga.sandbox import testdata
from paysaga.sandbox.braintree.model import Card, now

APPROVED = ("1000", "Approved")
# Processor responses the sandbox can produce (Braintree's published table).
PROCESSOR_TEXT: dict[str, str] = {
    "2000": "Do Not Honor",
    "2001": "Insufficient Funds",
    "2002": "Limit Exceeded",
    "2003": "Cardholder's Activity Limit Exceeded",
    "2004": "Expired Card",
    "2005": "Invalid Credit Card Number",
    "2010": "Card Issuer Declined CVV",
    "2015": "Transaction Not Allowed",
    "2038": "Processor Declined",
    "2044": "Declined - Call Issuer",
    "2046": "Declined",
    "2047": "Call Issuer. Pick Up Card",
    "3000": "Processor Network Unavailable - Try Again",
}
SOFT_PROCESSOR_CODES = frozenset({"2001", "2002", "2003", "2038", "2046", "3000"})


@dataclass(frozen=True)
class Outcome:
    """What a payment method does when charged."""

    status: str  # authorized | processor_declined | gateway_rejected | failed
    code: str = APPROVED[0]
    rejection_reason: str | None = None
    then_success_after: int = 0  # decline until the Nth attempt, then approve


NONCE_OUTCOMES: dict[str, Outcome] = {
    testdata.BRAINTREE_NONCE_HARD_DECLINE: Outcome("processor_declined", "2000"),
    "fake-processor-declined-mastercard-nonce": Outcome("processor_declined", "2000"),
    "fake-processor-declined-amex-nonce": Outcome("processor_declined", "2000"),
    testdata.BRAINTREE_NONCE_SOFT_DECLINE: Outcome("processor_declined", "2001"),
    testdata.BRAINTREE_NONCE_PROCESSOR_FAILURE: Outcome("failed", "3000"),
    testdata.BRAINTREE_NONCE_REQUIRES_ACTION: Outcome(
        "gateway_rejected", rejection_reason="three_d_secure"
    ),
    "fake-gateway-rejected-fraud-nonce": Outcome("gateway_rejected", rejection_reason="fraud"),
    testdata.BRAINTREE_NONCE_SOFT_THEN_SUCCESS: Outcome(
        "processor_declined", "2001", then_success_after=3
    ),
}


def card_for(nonce: str, token: str | None, customer_id: str | None) -> Card:
    brand = "visa"
    for name in ("mastercard", "amex", "discover"):
        if name in nonce:
            brand = name
    bin_, last4 = {
        "visa": ("411111", "1111"),
        "mastercard": ("555555", "4444"),
        "amex": ("378282", "0005"),
        "discover": ("601111", "1117"),
    }[brand]
    card_type = {"visa": "Visa", "mastercard": "MasterCard", "amex": "American Express"}
    return Card(token, customer_id, bin_, last4, card_type.get(brand, "Discover"), nonce, now())


def known_nonce(nonce: str) -> bool:
    return (
        nonce in NONCE_OUTCOMES
        or nonce.startswith("fake-valid-")
        or nonce in (testdata.BRAINTREE_NONCE_SUCCESS,)
    )


def outcome_for(
    card: Card, amount: int, currency: str, params: dict[str, Any], attempts: Counter[str]
) -> Outcome:
    """The outcome of charging `card`; `attempts` counts soft-then-success tries."""
    outcome = NONCE_OUTCOMES.get(card.nonce, Outcome("authorized"))
    if outcome.then_success_after:
        key = card.customer_id or str(params.get("order_id") or card.nonce)
        attempts[key] += 1
        if attempts[key] >= outcome.then_success_after:
            return Outcome("authorized")
    if outcome.status == "authorized":
        # Braintree's test amounts: 2000.00-2999.99 decline with that code,
        # 3000.00-3000.99 fail at the processor.
        units = amount // 10 ** CURRENCY_EXPONENTS[currency]
        if 2000 <= units <= 2999:
            return Outcome("processor_declined", str(units))
        if units == 3000:
            return Outcome("failed", "3000")
    return outcome
