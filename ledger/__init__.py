"""Sharded double-entry ledger on PostgreSQL: see ledger.service.Ledger."""

from ledger.service import Ledger, clearing_account_id
from ledger.types import (
    Account,
    AccountFlags,
    Balances,
    CrossShardHolds,
    CrossShardTransfer,
    EntryRequest,
    EntryResult,
    Leg,
    LegResult,
    StoredEntry,
    VerifyReport,
    Violation,
)

__all__ = [
    "Account",
    "AccountFlags",
    "Balances",
    "CrossShardHolds",
    "CrossShardTransfer",
    "EntryRequest",
    "EntryResult",
    "Ledger",
    "Leg",
    "LegResult",
    "StoredEntry",
    "VerifyReport",
    "Violation",
    "clearing_account_id",
]
