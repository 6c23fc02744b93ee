"""Decline codes in one place: gateway codes -> our normalised codes, and soft vs hard.

Our codes are Stripe's decline codes, so Stripe's pass through unchanged; Braintree's
processor response codes map onto them. Soft means the same card may succeed later
(dunning); hard means ask the customer for another.
"""

from __future__ import annotations

from typing import NamedTuple

# Decline codes that mean "try again later" rather than "never".
SOFT_DECLINE_CODES = frozenset(
    {
        "insufficient_funds",
        "try_again_later",
        "processing_error",
        "issuer_not_available",
        "do_not_honor_retry",
        "approve_with_id",
        "reenter_transaction",
    }
)


class Decline(NamedTuple):
    code: str
    soft: bool


def decline(code: str) -> Decline:
    """A normalised decline code with its soft flag."""
    return Decline(code, code in SOFT_DECLINE_CODES)


# Braintree processor response code -> our decline code.
BRAINTREE_PROCESSOR_CODES: dict[str, str] = {
    "2000": "do_not_honor",
    "2001": "insufficient_funds",
    "2002": "try_again_later",  # Limit Exceeded
    "2003": "try_again_later",  # Cardholder's Activity Limit Exceeded
    "2004": "expired_card",
    "2005": "incorrect_number",
    "2010": "incorrect_cvc",
    "2015": "transaction_not_allowed",
    "2038": "processing_error",  # Processor Declined (generic, temporary)
    "2044": "try_again_later",  # Declined - Call Issuer: resolvable by the holder
    "2046": "try_again_later",  # Declined (issuer unwilling right now)
    "2047": "pickup_card",
    "2057": "transaction_not_allowed",
}
BRAINTREE_PROCESSOR_UNAVAILABLE = "3000"  # Processor Network Unavailable - Try Again
BRAINTREE_UNLISTED = "processor_declined"  # a processor code not in the table: hard


def braintree_decline(status: str, processor_code: str, rejection_reason: str | None) -> Decline:
    """The decline of a Braintree sale that failed with `status`.

    Gateway rejections (fraud, AVS/CVV rules, 3-D Secure) are Braintree's own rules,
    never the issuer's mood: hard. A sale that "failed" inside the processor, or met
    an unavailable processor, is a temporary processing error: soft.
    """
    if status == "gateway_rejected":
        return Decline(rejection_reason or "gateway_rejected", False)
    if processor_code == BRAINTREE_PROCESSOR_UNAVAILABLE or status == "failed":
        return Decline("processing_error", True)
    return decline(BRAINTREE_PROCESSOR_CODES.get(processor_code, BRAINTREE_UNLISTED))
