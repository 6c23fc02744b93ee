"""Stripe's test-mode payment methods and what each one does when charged."""

from __future__ import annotations

from typing import Final

from paysaga.sandbox import testdata

# Magic test payment methods -> (brand, last4, behaviour).
MAGIC_CARDS: Final[dict[str, tuple[str, str, str]]] = {
    testdata.STRIPE_PM_SUCCESS: ("visa", "4242", "success"),
    testdata.STRIPE_PM_SUCCESS_MASTERCARD: ("mastercard", "4444", "success"),
    testdata.STRIPE_PM_HARD_DECLINE: ("visa", "0002", "generic_decline"),
    testdata.STRIPE_PM_STOLEN: ("visa", "9979", "stolen_card"),
    testdata.STRIPE_PM_SOFT_DECLINE: ("visa", "9995", "insufficient_funds"),
    testdata.STRIPE_PM_PROCESSING_ERROR: ("visa", "0119", "processing_error"),
    testdata.STRIPE_PM_REQUIRES_ACTION: ("visa", "3220", "requires_action"),
    testdata.STRIPE_PM_SOFT_THEN_SUCCESS: ("visa", "9995", "soft_then_success"),
    testdata.STRIPE_PM_DECLINE_ECHOES_CARD: ("visa", "5556", "card_number_echo"),
}
SOFT_THEN_SUCCESS_ATTEMPT: Final = 3  # declines before this attempt, succeeds from it on

# Behaviours that decline the charge -> the message the customer is shown.
DECLINE_MESSAGES: Final = {
    "generic_decline": "Your card was declined.",
    "stolen_card": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "card_number_echo": f"Your card {testdata.ECHOED_CARD_NUMBER} was declined.",
}
# Behaviours whose decline code is another's (the echo is a generic decline).
DECLINE_CODES: Final = {"card_number_echo": "generic_decline"}
