"""Reading stored entries with their legs back from one shard (for queries and verify)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

import psycopg

from ledger.results import leg_from_row
from ledger.shards import entry_ref
from ledger.types import EntryKind, StoredEntry


async def read_entries(
    conn: psycopg.AsyncConnection[Any], shard: int, where: str, params: Sequence[Any]
) -> list[StoredEntry]:
    """Entries of this shard matching `where` (SQL over ledger_entries e), oldest first."""
    cur = await conn.execute(
        "SELECT id, kind, idempotency_key, effective_at, created_at, description,"
        f" metadata, pending_id, reverses_id FROM ledger_entries e WHERE {where}"
        " ORDER BY effective_at, id",
        params,
    )
    rows = await cur.fetchall()
    ids = [r[0] for r in rows]
    cur = await conn.execute(
        "SELECT l.entry_id, l.account_id, l.direction, l.currency, l.posted_amount,"
        " l.pending_amount, l.stripe, l.debits_posted_after, l.credits_posted_after,"
        " l.debits_pending_after, l.credits_pending_after, l.version_after, a.normal_side"
        " FROM ledger_legs l JOIN ledger_accounts a ON a.id = l.account_id"
        " WHERE l.entry_id = ANY(%s) ORDER BY l.entry_id, l.leg_no",
        (ids,),
    )
    legs: dict[int, list[Any]] = defaultdict(list)
    for leg in await cur.fetchall():
        legs[leg[0]].append(leg_from_row(leg[1:]))

    def ref(value: int | None) -> str | None:
        return entry_ref(shard, value) if value is not None else None

    return [
        StoredEntry(
            entry_id=entry_ref(shard, r[0]),
            shard=shard,
            kind=cast(EntryKind, r[1]),
            idempotency_key=r[2],
            effective_at=r[3],
            created_at=r[4],
            description=r[5],
            metadata=r[6],
            pending_of=ref(r[7]),
            reverses=ref(r[8]),
            legs=tuple(legs[r[0]]),
        )
        for r in rows
    ]
