"""Deterministic test inputs, mirroring the providers' own sandbox values."""

from __future__ import annotations

from typing import Final

# Stripe test PaymentMethods (same ids as Stripe's test mode).
STRIPE_PM_SUCCESS: Final = "pm_card_visa"
STRIPE_PM_SUCCESS_MASTERCARD: Final = "pm_card_mastercard"
STRIPE_PM_HARD_DECLINE: Final = "pm_card_chargeDeclined"  # decline_code generic_decline
STRIPE_PM_STOLEN: Final = "pm_card_chargeDeclinedStolenCard"  # stolen_card (hard)
STRIPE_PM_SOFT_DECLINE: Final = "pm_card_chargeDeclinedInsufficientFunds"  # insufficient_funds
STRIPE_PM_PROCESSING_ERROR: Final = "pm_card_chargeDeclinedProcessingError"  # processing_error
STRIPE_PM_REQUIRES_ACTION: Final = "pm_card_threeDSecure2Required"
# Soft decline that succeeds from the Nth attempt on (dunning tests): the sandbox
# declines with insufficient_funds until its per-customer counter reaches 3.
STRIPE_PM_SOFT_THEN_SUCCESS: Final = "pm_card_insufficientFundsThenSuccess"
# Not Stripe's: a hard decline whose message echoes a full card number, as a careless
# processor might; what reaches our stores must be masked (issue 14).
STRIPE_PM_DECLINE_ECHOES_CARD: Final = "pm_card_declineEchoingCardNumber"
ECHOED_CARD_NUMBER: Final = "4000 0566 5566 5556"

# Braintree test nonces (same strings as Braintree's sandbox).
BRAINTREE_NONCE_SUCCESS: Final = "fake-valid-nonce"
BRAINTREE_NONCE_VISA: Final = "fake-valid-visa-nonce"
BRAINTREE_NONCE_HARD_DECLINE: Final = "fake-processor-declined-visa-nonce"  # 2000 Do Not Honor
BRAINTREE_NONCE_SOFT_DECLINE: Final = "fake-processor-declined-insufficient-funds-nonce"  # 2001
BRAINTREE_NONCE_PROCESSOR_FAILURE: Final = "fake-processor-failure-visa-nonce"  # 3000
BRAINTREE_NONCE_REQUIRES_ACTION: Final = "fake-three-d-secure-visa-full-authentication-nonce"
BRAINTREE_NONCE_SOFT_THEN_SUCCESS: Final = "fake-insufficient-funds-then-success-nonce"

# Plaid sandbox.
PLAID_INSTITUTION_ID: Final = "ins_109508"  # "First Platypus Bank"
PLAID_USERNAME: Final = "user_good"
PLAID_PASSWORD: Final = "pass_good"
PLAID_SANDBOX_OWNER_NAME: Final = "Alberta Bobbeth Charleson"
