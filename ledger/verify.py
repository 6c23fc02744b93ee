"""Invariant checks over every shard, read from one consistent snapshot per shard.

1. every entry balances per currency (posted and pending) and has its legs;
2. every balance row (account, or stripe of a hot account) equals the sum of its
   legs, and its version equals the number of entries that touched it;
3. no pending entry is resolved twice (posted and voided, or twice either way);
4. no flagged account breaks its flag now, and no plain flagged account ever did
   (the after-balance recorded on each leg);
5. the hash chain is intact (sealing first), and every committed entry is in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg

from ledger.types import VerifyReport, Violation

if TYPE_CHECKING:
    from ledger.service import Ledger

LIMIT = 20

UNBALANCED = """
SELECT entry_id, currency FROM ledger_legs GROUP BY entry_id, currency
HAVING sum(CASE WHEN direction = 'debit' THEN posted_amount ELSE -posted_amount END) <> 0
    OR sum(CASE WHEN direction = 'debit' THEN pending_amount ELSE -pending_amount END) <> 0
ORDER BY entry_id LIMIT %(limit)s
"""

LEG_COUNT = """
SELECT e.id, e.leg_count, count(l.leg_no) FROM ledger_entries e
LEFT JOIN ledger_legs l ON l.entry_id = e.id GROUP BY e.id
HAVING count(l.leg_no) <> e.leg_count ORDER BY e.id LIMIT %(limit)s
"""

ORPHAN_LEGS = """
SELECT DISTINCT l.entry_id FROM ledger_legs l
WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.id = l.entry_id)
ORDER BY 1 LIMIT %(limit)s
"""

BALANCES = """
WITH sums AS (
    SELECT account_id, stripe,
           sum(CASE WHEN direction = 'debit' THEN posted_amount ELSE 0 END) AS dp,
           sum(CASE WHEN direction = 'credit' THEN posted_amount ELSE 0 END) AS cp,
           sum(CASE WHEN direction = 'debit' THEN pending_amount ELSE 0 END) AS dpe,
           sum(CASE WHEN direction = 'credit' THEN pending_amount ELSE 0 END) AS cpe,
           count(DISTINCT entry_id) AS n
    FROM ledger_legs GROUP BY account_id, stripe),
rows AS (
    SELECT id AS account_id, 0::smallint AS stripe, debits_posted AS dp, credits_posted AS cp,
           debits_pending AS dpe, credits_pending AS cpe, version AS n
    FROM ledger_accounts
    UNION ALL
    SELECT account_id, stripe, debits_posted, credits_posted, debits_pending,
           credits_pending, version
    FROM ledger_account_stripes)
SELECT coalesce(r.account_id, s.account_id), coalesce(r.stripe, s.stripe),
       r.account_id IS NULL,
       r.dp, r.cp, r.dpe, r.cpe, r.n,
       coalesce(s.dp, 0), coalesce(s.cp, 0), coalesce(s.dpe, 0), coalesce(s.cpe, 0),
       coalesce(s.n, 0)
FROM rows r FULL JOIN sums s ON s.account_id = r.account_id AND s.stripe = r.stripe
WHERE r.account_id IS NULL
   OR r.dp <> coalesce(s.dp, 0) OR r.cp <> coalesce(s.cp, 0)
   OR r.dpe <> coalesce(s.dpe, 0) OR r.cpe <> coalesce(s.cpe, 0) OR r.n <> coalesce(s.n, 0)
ORDER BY 1, 2 LIMIT %(limit)s
"""

RESOLVED_TWICE = """
SELECT pending_id, string_agg(kind || ' ' || id, ', ' ORDER BY id) FROM ledger_entries
WHERE pending_id IS NOT NULL GROUP BY pending_id HAVING count(*) > 1
ORDER BY 1 LIMIT %(limit)s
"""

RESOLVES_NON_PENDING = """
SELECT r.id, r.pending_id, p.kind FROM ledger_entries r JOIN ledger_entries p ON p.id = r.pending_id
WHERE p.kind <> 'pending' ORDER BY r.id LIMIT %(limit)s
"""

FLAGS_NOW = """
SELECT a.id, a.flags,
       a.debits_posted + coalesce(sum(s.debits_posted), 0),
       a.credits_posted + coalesce(sum(s.credits_posted), 0),
       a.debits_pending + coalesce(sum(s.debits_pending), 0),
       a.credits_pending + coalesce(sum(s.credits_pending), 0)
FROM ledger_accounts a LEFT JOIN ledger_account_stripes s ON s.account_id = a.id
WHERE a.flags <> 0 GROUP BY a.id
HAVING (a.flags & 1 <> 0 AND a.debits_posted + coalesce(sum(s.debits_posted), 0)
            + a.debits_pending + coalesce(sum(s.debits_pending), 0)
            > a.credits_posted + coalesce(sum(s.credits_posted), 0))
    OR (a.flags & 2 <> 0 AND a.credits_posted + coalesce(sum(s.credits_posted), 0)
            + a.credits_pending + coalesce(sum(s.credits_pending), 0)
            > a.debits_posted + coalesce(sum(s.debits_posted), 0))
ORDER BY a.id LIMIT %(limit)s
"""

FLAGS_HISTORY = """
SELECT l.entry_id, l.account_id FROM ledger_legs l JOIN ledger_accounts a ON a.id = l.account_id
WHERE NOT a.hot AND (
    (a.flags & 1 <> 0 AND l.debits_posted_after + l.debits_pending_after > l.credits_posted_after)
 OR (a.flags & 2 <> 0 AND l.credits_posted_after + l.credits_pending_after > l.debits_posted_after))
ORDER BY l.entry_id LIMIT %(limit)s
"""

UNCHAINED = """
SELECT e.id FROM ledger_entries e
WHERE NOT EXISTS (SELECT 1 FROM ledger_chain c WHERE c.entry_id = e.id)
  AND NOT EXISTS (SELECT 1 FROM ledger_chain_queue q WHERE q.entry_id = e.id)
ORDER BY e.id LIMIT %(limit)s
"""


async def _rows(conn: psycopg.AsyncConnection[Any], sql: str) -> list[Any]:
    cur = await conn.execute(sql, {"limit": LIMIT})
    return list(await cur.fetchall())


async def verify_shard(
    conn: psycopg.AsyncConnection[Any], shard: int
) -> tuple[list[Violation], int, int]:
    found: list[Violation] = []

    def add(check: str, subject: str, detail: str) -> None:
        found.append(Violation(shard, check, subject, detail))

    def entry(entry_id: int) -> str:
        return f"entry {shard}-{entry_id}"

    await conn.execute("SELECT ledger_seal()")
    await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        for entry_id, currency in await _rows(conn, UNBALANCED):
            add("unbalanced_entry", entry(entry_id), f"debits differ from credits in {currency}")
        for entry_id, expected, actual in await _rows(conn, LEG_COUNT):
            add("leg_count", entry(entry_id), f"has {actual} legs, its header says {expected}")
        for (entry_id,) in await _rows(conn, ORPHAN_LEGS):
            add("orphan_legs", entry(entry_id), "legs without an entry")
        for row in await _rows(conn, BALANCES):
            account_id, stripe, missing = row[0], row[1], row[2]
            where = f"account {account_id}" + (f" stripe {stripe}" if stripe else "")
            if missing:
                add("balance", where, "legs refer to an account or stripe that does not exist")
                continue
            stored = dict(zip(("dp", "cp", "dpe", "cpe", "version"), row[3:8], strict=True))
            summed = dict(zip(("dp", "cp", "dpe", "cpe", "version"), row[8:13], strict=True))
            diff = ", ".join(
                f"{k} {stored[k]} != {summed[k]}" for k in stored if stored[k] != summed[k]
            )
            add("balance", where, f"stored balance differs from the sum of its entries: {diff}")
        for pending_id, resolutions in await _rows(conn, RESOLVED_TWICE):
            add("pending_resolved_twice", entry(pending_id), f"resolved by {resolutions}")
        for entry_id, pending_id, kind in await _rows(conn, RESOLVES_NON_PENDING):
            add("resolves_non_pending", entry(entry_id), f"resolves {pending_id}, a {kind} entry")
        for account_id, flags, dp, cp, dpe, cpe in await _rows(conn, FLAGS_NOW):
            add(
                "overdraft",
                f"account {account_id}",
                f"flags {flags}: debits {dp}+{dpe} pending, credits {cp}+{cpe} pending",
            )
        for entry_id, account_id in await _rows(conn, FLAGS_HISTORY):
            add("overdraft_history", entry(entry_id), f"left account {account_id} overdrawn")
        cur = await conn.execute("SELECT * FROM ledger_verify_chain()")
        bad = await cur.fetchone()
        if bad is not None and bad[2] is not None:
            subject = entry(bad[1]) if bad[1] is not None else "chain head"
            add("hash_chain", subject, f"seq {bad[0]}: {bad[2]}")
        for (entry_id,) in await _rows(conn, UNCHAINED):
            add("hash_chain", entry(entry_id), "entry is neither sealed nor queued for sealing")
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM ledger_accounts)"
        )
        counts = await cur.fetchone()
    finally:
        await conn.execute("ROLLBACK")
    assert counts is not None
    return found, int(counts[0]), int(counts[1])


async def verify_shards(ledger: Ledger) -> VerifyReport:
    violations: list[Violation] = []
    entries = accounts = 0
    for shard in range(ledger.shards.count):
        async with ledger.shards.connection(shard) as conn:
            found, n_entries, n_accounts = await verify_shard(conn, shard)
        violations.extend(found)
        entries += n_entries
        accounts += n_accounts
    return VerifyReport(ledger.shards.count, entries, accounts, tuple(violations))
