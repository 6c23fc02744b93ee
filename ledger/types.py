"""Frozen dataclasses in and out of the ledger; amounts are integer minor units."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Direction = Literal["debit", "credit"]
EntryKind = Literal["standard", "pending", "post_pending", "void_pending", "reversal"]
EntryStatus = Literal["posted", "pending", "voided"]


class AccountFlags(enum.IntFlag):
    NONE = 0
    # TigerBeetle semantics: debits_posted + debits_pending <= credits_posted.
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    # credits_posted + credits_pending <= debits_posted.
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2


DEFAULT_STRIPES = 16


@dataclass(frozen=True, slots=True)
class AccountSpec:
    account_id: str
    currency: str
    normal_side: Direction
    flags: AccountFlags = AccountFlags.NONE
    hot: bool = False
    stripes: int = DEFAULT_STRIPES
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    currency: str
    normal_side: Direction
    flags: AccountFlags
    hot: bool
    stripes: int
    metadata: dict[str, Any]
    shard: int


@dataclass(frozen=True, slots=True)
class Leg:
    account_id: str
    direction: Direction
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class EntryRequest:
    idempotency_key: str
    legs: tuple[Leg, ...]
    pending: bool = False
    expires_at: datetime | None = None
    effective_at: datetime | None = None
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    reverses: str | None = None


@dataclass(frozen=True, slots=True)
class LegResult:
    """One leg as written. For a hot account the balances are those of `stripe` (>= 1)."""

    account_id: str
    direction: Direction
    currency: str
    posted_minor: int
    pending_minor: int
    stripe: int
    normal_side: Direction
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    version: int

    @property
    def amount_minor(self) -> int:
        return self.posted_minor or abs(self.pending_minor)

    def _posted(self, dp: int, cp: int) -> int:
        return dp - cp if self.normal_side == "debit" else cp - dp

    @property
    def balance_after(self) -> int:
        return self._posted(self.debits_posted, self.credits_posted)

    @property
    def balance_before(self) -> int:
        delta = self.posted_minor if self.direction == self.normal_side else -self.posted_minor
        return self.balance_after - delta

    @property
    def pending_after(self) -> int:
        return self._posted(self.debits_pending, self.credits_pending)

    @property
    def pending_before(self) -> int:
        delta = self.pending_minor if self.direction == self.normal_side else -self.pending_minor
        return self.pending_after - delta


@dataclass(frozen=True, slots=True)
class EntryResult:
    entry_id: str
    shard: int
    kind: EntryKind
    status: EntryStatus
    replayed: bool
    effective_at: datetime
    legs: tuple[LegResult, ...]


@dataclass(frozen=True, slots=True)
class Balances:
    account_id: str
    currency: str
    normal_side: Direction
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    version: int

    @property
    def posted(self) -> int:
        """Posted balance on the account's normal side."""
        if self.normal_side == "debit":
            return self.debits_posted - self.credits_posted
        return self.credits_posted - self.debits_posted

    @property
    def pending(self) -> int:
        """Held amounts on the normal side (incoming minus outgoing)."""
        if self.normal_side == "debit":
            return self.debits_pending - self.credits_pending
        return self.credits_pending - self.debits_pending

    @property
    def available(self) -> int:
        """Posted minus outgoing holds; incoming holds are not yet available."""
        if self.normal_side == "debit":
            return self.posted - self.credits_pending
        return self.posted - self.debits_pending


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as listed by find_entries / list_entries."""

    entry_id: str
    shard: int
    kind: EntryKind
    idempotency_key: str
    effective_at: datetime
    created_at: datetime
    description: str
    metadata: dict[str, Any]
    pending_of: str | None
    reverses: str | None
    legs: tuple[LegResult, ...]


@dataclass(frozen=True, slots=True)
class CrossShardTransfer:
    """A transfer the workflow layer drives as a saga over per-shard clearing accounts."""

    transfer_id: str
    source_account: str
    destination_account: str
    amount_minor: int
    currency: str
    expires_at: datetime | None = None
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CrossShardHolds:
    source: EntryResult
    target: EntryResult


@dataclass(frozen=True, slots=True)
class Violation:
    shard: int
    check: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"shard {self.shard}: {self.check}: {self.subject}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    shards: int
    entries: int
    accounts: int
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def first(self) -> Violation | None:
        return self.violations[0] if self.violations else None
