"""Bank-account onboarding through Plaid: requests, activity payloads, the live view,
and the account-owner name check.

Temporal's default converter (de)serialises these by type hints, so every field is
typed precisely: ints for money, tuples for sequences, datetimes in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from paysaga.domain.bank_accounts import NameMatch
from paysaga.domain.errors import ValidationError
from paysaga.domain.money import validate_currency
from paysaga.domain.pan import refuse_card_numbers
from paysaga.domain.payments import StepRecord
from paysaga.domain.routing import Routing
from paysaga.domain.status import OnboardingStatus


@dataclass(frozen=True)
class OnboardingOptions:
    reminder_interval_s: int | None = None
    expiry_s: int | None = None


@dataclass(frozen=True)
class OnboardingRequest:
    onboarding_id: str
    customer_id: str
    legal_name: str
    email: str
    currency: str = "USD"
    options: OnboardingOptions = field(default_factory=OnboardingOptions)
    routing: Routing = field(default_factory=Routing)

    def validate(self, *, card_numbers: bool = True) -> None:
        """Domain rules; first (`card_numbers`) that no field holds a card number (skipped
        by the workflow for histories recorded before that check)."""
        if card_numbers:
            refuse_card_numbers(self)
        for name in ("onboarding_id", "customer_id", "legal_name"):
            if not getattr(self, name):
                raise ValidationError(f"{name} is required", field=name)
        validate_currency(self.currency)


@dataclass(frozen=True)
class PublicTokenSubmission:
    public_token: str
    account_id: str | None = None  # the account the customer picked in Link


@dataclass(frozen=True)
class LinkTokenInput:
    onboarding_id: str
    customer_id: str
    legal_name: str
    email: str


@dataclass(frozen=True)
class LinkToken:
    link_token: str
    expiration: datetime | None = None


@dataclass(frozen=True)
class ExchangeInput:
    onboarding_id: str
    public_token: str


@dataclass(frozen=True)
class ExchangeResult:
    item_id: str
    access_token_ref: str  # id in the secret store; never the token itself


@dataclass(frozen=True)
class VerifyInput:
    onboarding_id: str
    access_token_ref: str
    account_id: str | None = None


@dataclass(frozen=True)
class BankVerification:
    account_id: str
    mask: str
    owner_names: tuple[str, ...]
    has_ach_numbers: bool
    # Added with bank-account records; histories recorded before decode the defaults.
    institution_name: str | None = None
    subtype: str = ""


@dataclass(frozen=True)
class BankAccountInput:
    onboarding_id: str
    customer_id: str
    legal_name: str
    email: str
    access_token_ref: str
    account_id: str


@dataclass(frozen=True)
class BankAccountResult:
    customer_ref: str
    bank_account_ref: str


@dataclass(frozen=True)
class OpenAccountsInput:
    customer_id: str
    currency: str
    # The owning merchant, in the account names; None from workflows started before
    # customer accounts were namespaced (they keep the old names).
    merchant_id: str | None = None


@dataclass(frozen=True)
class OpenAccountsResult:
    accounts: tuple[str, ...]


@dataclass(frozen=True)
class ReminderInput:
    onboarding_id: str
    customer_id: str
    number: int


@dataclass(frozen=True)
class OnboardingView:
    onboarding_id: str
    customer_id: str
    status: OnboardingStatus
    link_token: str | None = None
    steps: tuple[StepRecord, ...] = ()
    reminders_sent: int = 0
    expires_at: datetime | None = None
    item_id: str | None = None
    bank_account_ref: str | None = None
    customer_ref: str | None = None
    # Customer ledger accounts opened by onboardings started before bank-account records
    # (see workflows/onboarding.py); empty since.
    accounts: tuple[str, ...] = ()
    last_error: str | None = None
    bank_account_id: str | None = None  # what a payment names (`bank_...`)
    bank_account_status: str | None = None
    owner_name_match: str | None = None


def normalise_name(name: str) -> tuple[str, ...]:
    return tuple(
        sorted(
            part
            for part in "".join(ch.lower() if ch.isalnum() else " " for ch in name).split()
            if part
        )
    )


def names_match(expected: str, candidates: tuple[str, ...]) -> bool:
    """Owner name check: same words, or first and last name present, case-insensitively."""
    return match_owner_name(expected, candidates) in (NameMatch.EXACT, NameMatch.PARTIAL)


def match_owner_name(expected: str, candidates: tuple[str, ...]) -> NameMatch:
    """The best match of the customer's name among the account owners' names.

    Words are compared lower-cased, punctuation dropped. EXACT: one owner name has the
    same words (any order); PARTIAL: the customer's first and last words are both among
    one owner name's words ("Alberta Charleson" for "Alberta Bobbeth Charleson");
    MISMATCH: neither; UNAVAILABLE: the bank returned no owner name at all.
    """
    if not any(normalise_name(candidate) for candidate in candidates):
        return NameMatch.UNAVAILABLE
    want = normalise_name(expected)
    if not want:
        return NameMatch.MISMATCH
    best = NameMatch.MISMATCH
    words = expected.lower().split()
    for candidate in candidates:
        have = normalise_name(candidate)
        if have == want:
            return NameMatch.EXACT
        if len(words) >= 2 and {words[0], words[-1]} <= set(have):
            best = NameMatch.PARTIAL
    return best
