"""NACHA return codes and the Stripe failure codes that carry them, in one place.

Stripe reports an ACH return as the charge's `failure_code` and the PaymentIntent's
`last_payment_error.code` (https://docs.stripe.com/payments/ach-direct-debit and
https://docs.stripe.com/api/charges/object#charge_object-failure_code); it never
sends the R-code itself. The sandbox turns an R-code into a failure code with
`FAILURE_CODES`, and the webhook normaliser and gateway lookups turn a failure code
back into an R-code with `return_code`.
"""

from __future__ import annotations

from typing import Final

# NACHA return code -> Stripe failure code.
FAILURE_CODES: Final = {
    "R01": "insufficient_funds",
    "R02": "account_closed",
    "R03": "no_account",
    "R04": "invalid_account_number",
    "R08": "debit_not_authorized",
    "R10": "debit_not_authorized",
    "R16": "account_frozen",
    "R29": "debit_not_authorized",
}

# Several R-codes share `debit_not_authorized`: R10 (the customer says they never
# authorized it, the one with the 60-day window) stands for them.
_BY_FAILURE_CODE: Final = {
    failure: code
    for code, failure in sorted(FAILURE_CODES.items(), key=lambda kv: kv[0] != "R10")
    if code == "R10" or failure != "debit_not_authorized"
}


def return_code(failure_code: str | None) -> str | None:
    """The R-code for a Stripe failure code; None when it is not an ACH return's."""
    if not failure_code:
        return None
    if failure_code in FAILURE_CODES:  # already an R-code
        return failure_code
    return _BY_FAILURE_CODE.get(failure_code)
