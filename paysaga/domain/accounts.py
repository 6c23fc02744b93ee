"""Ledger accounts a merchant owns: their ids, and the one parser that says whose an id is.

Every merchant-owned account names its merchant in a fixed position, so two merchants
that both onboard `cust-shared` get two accounts, and ownership is decided by parsing
the id, never by searching it for a substring (a customer id may itself look like a
merchant id). Ids are `:`-separated and no part may contain `:` (merchant and
customer ids cannot), so the split is unambiguous.

Customer accounts opened before they were namespaced (`customer_receivable:{customer}:
{currency}`) keep their names; `owner_of_account` gives them no owner, since two
merchants may share one.
"""

from __future__ import annotations

import re
from typing import Final

MERCHANT_PAYABLE: Final = "merchant_payable"
CUSTOMER_RECEIVABLE: Final = "customer_receivable"
CUSTOMER_BALANCE: Final = "customer_balance"

# kind -> number of `:`-separated parts of its merchant-owned form (merchant is part 1).
_OWNED_PARTS: Final = {MERCHANT_PAYABLE: 3, CUSTOMER_RECEIVABLE: 4, CUSTOMER_BALANCE: 4}
_CURRENCY: Final = re.compile(r"^[A-Z]{3}$")
_ONBOARDING_ID: Final = re.compile(r"^onboarding-(mer_[0-9a-f]{16})\.[A-Za-z0-9_\-]{1,100}$")


def merchant_payable(merchant_id: str, currency: str) -> str:
    """Liability, hot (striped): what we owe a merchant for its customers' payments."""
    return f"{MERCHANT_PAYABLE}:{merchant_id}:{currency}"


def customer_receivable(merchant_id: str | None, customer_id: str, currency: str) -> str:
    """Asset: ACH debits owed by a customer's bank. No merchant: the pre-namespace name."""
    return _customer_account(CUSTOMER_RECEIVABLE, merchant_id, customer_id, currency)


def customer_balance(merchant_id: str | None, customer_id: str, currency: str) -> str:
    """Liability: a customer's stored balance. No merchant: the pre-namespace name."""
    return _customer_account(CUSTOMER_BALANCE, merchant_id, customer_id, currency)


def _customer_account(kind: str, merchant_id: str | None, customer_id: str, currency: str) -> str:
    if merchant_id is None:  # onboardings whose workflow predates namespacing
        return f"{kind}:{customer_id}:{currency}"
    return f"{kind}:{merchant_id}:{customer_id}:{currency}"


def owner_of_account(account_id: str) -> str | None:
    """The merchant that owns `account_id`, or None (system and pre-namespace accounts)."""
    parts = account_id.split(":")
    expected = _OWNED_PARTS.get(parts[0])
    if expected is None or len(parts) != expected or not _CURRENCY.fullmatch(parts[-1]):
        return None
    if not all(parts):
        return None
    return parts[1]


def merchant_of_onboarding(onboarding_id: str) -> str | None:
    """The merchant in an API onboarding id (`onboarding-{merchant}.{key}`), else None."""
    match = _ONBOARDING_ID.fullmatch(onboarding_id)
    return match.group(1) if match else None
