"""Decode what the SQL functions return into frozen result dataclasses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from ledger.shards import entry_ref
from ledger.types import Direction, EntryKind, EntryResult, EntryStatus, LegResult

_STATUS: dict[str, EntryStatus] = {
    "standard": "posted",
    "reversal": "posted",
    "post_pending": "posted",
    "pending": "pending",
    "void_pending": "voided",
}


def leg_from_row(row: Sequence[Any]) -> LegResult:
    (acc, direction, currency, posted, pending, stripe, dp, cp, dpe, cpe, version, ns) = row
    return LegResult(
        account_id=acc,
        direction=cast(Direction, direction),
        currency=currency,
        posted_minor=int(posted),
        pending_minor=int(pending),
        stripe=int(stripe),
        normal_side=cast(Direction, ns),
        debits_posted=int(dp),
        credits_posted=int(cp),
        debits_pending=int(dpe),
        credits_pending=int(cpe),
        version=int(version),
    )


def status_of(kind: str) -> EntryStatus:
    return _STATUS[kind]


def entry_result(shard: int, doc: dict[str, Any]) -> EntryResult:
    effective = doc["effective_at"]
    return EntryResult(
        entry_id=entry_ref(shard, int(doc["id"])),
        shard=shard,
        kind=cast(EntryKind, doc["kind"]),
        status=status_of(doc["kind"]),
        replayed=bool(doc["replayed"]),
        effective_at=effective
        if isinstance(effective, datetime)
        else datetime.fromisoformat(effective),
        legs=tuple(leg_from_row(row) for row in doc["legs"]),
    )
