"""Bank accounts: what an onboarding produces and a bank payment names (`bank_...`).

One bank account belongs to one (merchant, customer). It holds the gateway's references
(Stripe customer `cus_...` and bank account `ba_...`), Plaid's (item, account, and the
secret-store id of the access token, never the token), its status and how the account
owner's name compared with the customer's. No account or routing number is kept: only
the last four digits and the institution's name.

Temporal's default converter (de)serialises these by type hints, so every field is typed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

BANK_ACCOUNT_ID_RE: Final = re.compile(r"^bank_[0-9a-f]{24}$")


class BankAccountStatus(StrEnum):
    VERIFIED = "verified"  # owner name matched: payments may debit it
    UNVERIFIED = "unverified"  # the bank gave no owner name: refused until verified
    DISABLED = "disabled"  # switched off by the merchant: refused for good


class NameMatch(StrEnum):
    """How the account owner's name (Plaid Identity) compared with the customer's."""

    EXACT = "exact"  # the same words, any order and case
    PARTIAL = "partial"  # the customer's first and last words are among the owner's
    MISMATCH = "mismatch"  # neither: the onboarding fails
    UNAVAILABLE = "unavailable"  # the bank returned no owner name: unverified


def bank_account_id_for(onboarding_id: str) -> str:
    """The bank account an onboarding produces: derived from it, so a retried record
    step writes the same row."""
    return "bank_" + hashlib.sha256(f"bank-account:{onboarding_id}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class BankAccountRef:
    """What a payment carries about the bank account it debits (resolved by the client)."""

    bank_account_id: str
    plaid_access_token_ref: str  # secret-store id of the Plaid access token
    plaid_account_id: str


@dataclass(frozen=True)
class RecordBankAccountInput:
    bank_account_id: str
    onboarding_id: str
    merchant_id: str
    customer_id: str
    currency: str
    gateway: str
    gateway_customer_ref: str
    payment_method_ref: str
    plaid_item_id: str
    plaid_account_id: str
    plaid_access_token_ref: str
    last4: str
    institution_name: str | None
    account_subtype: str
    owner_name_match: str
    status: str


@dataclass(frozen=True)
class RecordBankAccountResult:
    bank_account_id: str
    status: str


@dataclass(frozen=True)
class BankAccount:
    """A stored bank account, as the client and the API read it."""

    bank_account_id: str
    merchant_id: str
    customer_id: str
    onboarding_id: str
    currency: str
    status: BankAccountStatus
    owner_name_match: NameMatch
    gateway: str
    gateway_customer_ref: str
    payment_method_ref: str
    plaid_item_id: str
    plaid_account_id: str
    plaid_access_token_ref: str
    last4: str
    institution_name: str | None
    account_subtype: str
    created_at: datetime
    status_changed_at: datetime | None = None
    status_reason: str | None = None

    def ref(self) -> BankAccountRef:
        return BankAccountRef(
            self.bank_account_id, self.plaid_access_token_ref, self.plaid_account_id
        )


@dataclass(frozen=True)
class BalanceCheckInput:
    payment_id: str
    plaid_access_token_ref: str
    plaid_account_id: str
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class BalanceCheckResult:
    """The account's balance in minor units (None: the bank did not report it)."""

    available_minor: int | None
    current_minor: int | None
    currency: str | None

    def covers(self, amount_minor: int, currency: str) -> bool:
        """Plaid's `available` is what can be spent now; when the bank does not report it,
        `current` (which may include pending debits) is the best figure there is. A
        balance in another currency, or none at all, covers nothing."""
        balance = self.available_minor if self.available_minor is not None else self.current_minor
        if balance is None or (self.currency is not None and self.currency != currency):
            return False
        return balance >= amount_minor


INSUFFICIENT_FUNDS_PRECHECK: Final = "insufficient_funds_precheck"
