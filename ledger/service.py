"""The ledger's async Python API over N PostgreSQL shards.

Each write is one call of a PL/pgSQL function on one shard (one round trip, its own
transaction): it checks idempotency, locks accounts in sorted order, updates balances
and versions, and appends the entry and its legs. Errors come back as SQLSTATE LG000
and are raised here as typed errors (ledger.errors).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import psycopg
import structlog
from psycopg.types.json import Jsonb

from ledger import cross_shard
from ledger import requests as rq
from ledger.entry_reads import read_entries
from ledger.errors import (
    AccountConflict,
    CrossShardEntry,
    UnknownAccount,
    from_sql_error,
)
from ledger.results import entry_result
from ledger.shards import Shards, entry_ref, parse_entry_ref
from ledger.types import (
    Account,
    AccountFlags,
    AccountSpec,
    Balances,
    CrossShardHolds,
    CrossShardTransfer,
    Direction,
    EntryRequest,
    EntryResult,
    Leg,
    StoredEntry,
    VerifyReport,
)

log = structlog.get_logger()

LEDGER_SQLSTATE = "LG000"
CLEARING_STRIPES = 16


def clearing_account_id(shard: int, currency: str) -> str:
    return f"{rq.CLEARING_PREFIX}{shard}:{currency}"


class Ledger:
    """Async ledger API. Use `async with Ledger(dsns) as ledger:` or open()/close()."""

    def __init__(self, dsns: Sequence[str], *, pool_min: int = 1, pool_max: int = 10) -> None:
        self.shards = Shards(dsns, min_size=pool_min, max_size=pool_max)
        self._clearing_ready: set[str] = set()
        self._clearing_lock = asyncio.Lock()

    async def open(self, *, require_all: bool = True) -> Ledger:
        """require_all=False: start even if shards are down (see Shards.open)."""
        await self.shards.open(require_all=require_all)
        return self

    async def close(self) -> None:
        await self.shards.close()

    async def __aenter__(self) -> Ledger:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ calls

    async def _call(self, shard: int, sql: str, payload: Any) -> list[Any]:
        """Run one posting function; retry once if a concurrent twin won the unique key."""
        await self.shards.ensure_up(shard)
        for attempt in (1, 2):
            try:
                # Pre-serialised JSON text is sent as is (cast to jsonb in sql).
                param = payload if isinstance(payload, str) else Jsonb(payload)
                # The pool directly (not Shards.connection): one context manager less on the
                # hot path; its errors are mapped below.
                async with self.shards.pools[shard].connection() as conn:
                    cur = await conn.execute(sql, (param,))
                    return [row[0] for row in await cur.fetchall()]
            except psycopg.errors.UniqueViolation:
                # Same idempotency key (or pending resolution) committed meanwhile: the
                # retry sees it and replays or raises the typed error.
                if attempt == 2:
                    raise
            except psycopg.Error as exc:
                if exc.sqlstate == LEDGER_SQLSTATE:
                    raise from_sql_error(
                        exc.diag.message_primary, exc.diag.message_detail
                    ) from None
                if isinstance(exc, psycopg.OperationalError):
                    raise await self.shards.unavailable(shard, exc) from exc
                raise
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ accounts

    async def create_account(
        self,
        account_id: str,
        currency: str,
        normal_side: Direction,
        flags: AccountFlags = AccountFlags.NONE,
        *,
        hot: bool = False,
        stripes: int = 16,
        metadata: dict[str, Any] | None = None,
    ) -> Account:
        spec = AccountSpec(account_id, currency, normal_side, flags, hot, stripes, metadata or {})
        rq.validate_spec(spec)
        return await self._create(spec, shard=None)

    async def _create(self, spec: AccountSpec, shard: int | None) -> Account:
        shard = await self.shards.register(spec.account_id, shard)
        digest = rq.definition_hash(spec)
        stripes = spec.stripes if spec.hot else 0
        async with self.shards.connection(shard) as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO ledger_accounts (id, currency, normal_side, flags, hot, stripes,"
                " metadata, definition_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING",
                (
                    spec.account_id,
                    spec.currency,
                    spec.normal_side,
                    int(spec.flags),
                    spec.hot,
                    stripes,
                    Jsonb(spec.metadata),
                    digest,
                ),
            )
            cur = await conn.execute(
                "SELECT definition_hash FROM ledger_accounts WHERE id = %s", (spec.account_id,)
            )
            row = await cur.fetchone()
            assert row is not None
            if row[0] != digest:
                raise AccountConflict(
                    f"account {spec.account_id} exists with a different definition",
                    field="account_id",
                )
            if spec.hot:
                await conn.execute(
                    "INSERT INTO ledger_account_stripes (account_id, stripe)"
                    " SELECT %s, g FROM generate_series(1, %s) g ON CONFLICT DO NOTHING",
                    (spec.account_id, stripes),
                )
        return Account(
            spec.account_id,
            spec.currency,
            spec.normal_side,
            AccountFlags(int(spec.flags)),
            spec.hot,
            stripes,
            spec.metadata,
            shard,
        )

    async def get_account(self, account_id: str) -> Account:
        shard = await self.shards.shard_of(account_id)
        async with self.shards.connection(shard) as conn:
            cur = await conn.execute(
                "SELECT currency, normal_side, flags, hot, stripes, metadata"
                " FROM ledger_accounts WHERE id = %s",
                (account_id,),
            )
            row = await cur.fetchone()
        if row is None:
            raise UnknownAccount(f"account {account_id} does not exist", field="account_id")
        currency, side, flags, hot, stripes, metadata = row
        return Account(
            account_id, currency, side, AccountFlags(flags), hot, stripes, metadata, shard
        )

    async def get_balances(self, account_id: str) -> Balances:
        """Balances summed over the account row and, for a hot account, its stripes."""
        shard = await self.shards.shard_of(account_id)
        async with self.shards.connection(shard) as conn:
            cur = await conn.execute(
                "SELECT a.currency, a.normal_side,"
                " a.debits_posted + coalesce(sum(s.debits_posted), 0),"
                " a.credits_posted + coalesce(sum(s.credits_posted), 0),"
                " a.debits_pending + coalesce(sum(s.debits_pending), 0),"
                " a.credits_pending + coalesce(sum(s.credits_pending), 0),"
                " a.version + coalesce(sum(s.version), 0)"
                " FROM ledger_accounts a"
                " LEFT JOIN ledger_account_stripes s ON s.account_id = a.id"
                " WHERE a.id = %s GROUP BY a.id",
                (account_id,),
            )
            row = await cur.fetchone()
        if row is None:
            raise UnknownAccount(f"account {account_id} does not exist", field="account_id")
        currency, side, dp, cp, dpe, cpe, version = row
        return Balances(
            account_id, currency, side, int(dp), int(cp), int(dpe), int(cpe), int(version)
        )

    async def clearing_account(self, shard: int, currency: str) -> str:
        """The shard's clearing account for a currency, created on first use (hot)."""
        account_id = clearing_account_id(shard, rq.currency(currency))
        if account_id in self._clearing_ready:
            return account_id
        # The directory row is cached before the account row exists: serialise creation
        # so no task posts to a clearing account another task is still creating.
        async with self._clearing_lock:
            if account_id not in self._clearing_ready:
                spec = AccountSpec(
                    account_id, currency, "debit", AccountFlags.NONE, True, CLEARING_STRIPES, {}
                )
                await self._create(spec, shard=shard)
                self._clearing_ready.add(account_id)
        return account_id

    # ------------------------------------------------------------ entries

    async def _shard_for_legs(self, legs: Sequence[Leg]) -> int:
        # Known accounts resolve from the in-process directory without a coroutine hop.
        cached = {self.shards.cached_shard(leg.account_id) for leg in legs}
        if len(cached) == 1 and None not in cached:
            return cast(int, cached.pop())
        shards = set((await self.shards.shards_of(leg.account_id for leg in legs)).values())
        if len(shards) != 1:
            raise CrossShardEntry(
                "the legs of one entry live on different shards; use the cross-shard transfer"
                " primitives",
                field="legs",
            )
        return shards.pop()

    async def _prepare(self, request: EntryRequest) -> tuple[int, str]:
        legs = rq.validate_legs(request.legs)
        shard = await self._shard_for_legs(legs)
        ref = None
        if request.reverses is not None:
            ref_shard, ref = parse_entry_ref(request.reverses, self.shards.count)
            if ref_shard != shard:
                raise CrossShardEntry("a reversal must be on the shard of what it reverses")
        return shard, rq.entry_json(request, ref, legs)

    async def post_entry(self, request: EntryRequest) -> EntryResult:
        shard, payload = await self._prepare(request)
        (doc,) = await self._call(shard, "SELECT ledger_post(%s::jsonb)", payload)
        return entry_result(shard, doc)

    async def post_batch(self, entries: Sequence[EntryRequest]) -> list[EntryResult]:
        """Post many entries: one transaction (all or nothing) per shard touched."""
        prepared = [await self._prepare(e) for e in entries]
        by_shard: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for index, (shard, payload) in enumerate(prepared):
            by_shard[shard].append((index, payload))

        async def run(shard: int, items: list[tuple[int, str]]) -> None:
            payload = "[" + ",".join(p for _, p in items) + "]"
            docs = await self._call(shard, "SELECT * FROM ledger_post_batch(%s::jsonb)", payload)
            for (index, _), doc in zip(items, docs, strict=True):
                results[index] = entry_result(shard, doc)

        results: list[EntryResult | None] = [None] * len(entries)
        await asyncio.gather(*(run(s, items) for s, items in by_shard.items()))
        return [r for r in results if r is not None]

    async def _reference(
        self,
        kind: str,
        entry_id: str,
        idempotency_key: str,
        amount_minor: int | None,
        metadata: dict[str, Any] | None = None,
    ) -> EntryResult:
        shard, ref = parse_entry_ref(entry_id, self.shards.count)
        payload = rq.reference_payload(kind, idempotency_key, ref, amount_minor, metadata)
        (doc,) = await self._call(shard, "SELECT ledger_post(%s::jsonb)", payload)
        return entry_result(shard, doc)

    async def post_pending(
        self, entry_id: str, idempotency_key: str, amount_minor: int | None = None
    ) -> EntryResult:
        """Post a pending entry, fully or for a smaller amount (the rest is released)."""
        return await self._reference("post_pending", entry_id, idempotency_key, amount_minor)

    async def void_pending(self, entry_id: str, idempotency_key: str) -> EntryResult:
        return await self._reference("void_pending", entry_id, idempotency_key, None)

    async def reverse_entry(
        self,
        entry_id: str,
        idempotency_key: str,
        amount_minor: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> EntryResult:
        """Swap the legs of a posted entry, fully or partly (a partial refund)."""
        return await self._reference("reversal", entry_id, idempotency_key, amount_minor, metadata)

    async def entry_for_key(self, shard: int, idempotency_key: str) -> str | None:
        async with self.shards.connection(shard) as conn:
            cur = await conn.execute(
                "SELECT id FROM ledger_entries WHERE idempotency_key = %s", (idempotency_key,)
            )
            row = await cur.fetchone()
        return entry_ref(shard, int(row[0])) if row else None

    # ------------------------------------------------------------ cross-shard saga steps
    # The steps themselves live in ledger.cross_shard; these are the ledger's API for them.

    async def hold_source(self, transfer: CrossShardTransfer) -> EntryResult:
        """Saga step 1: pending debit of the source against its shard's clearing account."""
        return await cross_shard.hold(self, transfer, "source")

    async def hold_target(self, transfer: CrossShardTransfer) -> EntryResult:
        """Saga step 2: pending credit of the destination from its shard's clearing account."""
        return await cross_shard.hold(self, transfer, "target")

    async def post_cross_shard(self, transfer: CrossShardTransfer) -> CrossShardHolds:
        """Saga step 3: post both holds (each idempotent)."""
        return await cross_shard.post_both(self, transfer)

    async def void_cross_shard(self, transfer: CrossShardTransfer) -> list[EntryResult]:
        """Compensation: void whichever holds exist (each idempotent)."""
        return await cross_shard.void_existing(self, transfer)

    async def begin_cross_shard_transfer(self, transfer: CrossShardTransfer) -> CrossShardHolds:
        """Both holds; if the target hold fails the source hold is voided and the error raised."""
        return await cross_shard.begin(self, transfer)

    # ------------------------------------------------------------ queries

    async def _stored(self, shard: int, where: str, params: Sequence[Any]) -> list[StoredEntry]:
        async with self.shards.connection(shard) as conn:
            return await read_entries(conn, shard, where, params)

    async def _all_shards(self, where: str, params: Sequence[Any]) -> list[StoredEntry]:
        found = await asyncio.gather(
            *(self._stored(s, where, params) for s in range(self.shards.count))
        )
        merged = [e for shard_entries in found for e in shard_entries]
        return sorted(merged, key=lambda e: (e.effective_at, e.shard, e.entry_id))

    async def find_entries(self, metadata_key: str, value: str | int) -> list[StoredEntry]:
        """Entries on every shard whose metadata has key = value (GIN index)."""
        return await self._all_shards("metadata @> %s", (Jsonb({metadata_key: value}),))

    async def list_entries(
        self, effective_from: datetime, effective_to: datetime, account_prefix: str | None = None
    ) -> list[StoredEntry]:
        """Entries with effective_from <= effective_at < effective_to, optionally only those
        touching an account whose id starts with account_prefix."""
        where = "effective_at >= %s AND effective_at < %s"
        params: list[Any] = [effective_from, effective_to]
        if account_prefix:
            escaped = account_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where += (
                " AND EXISTS (SELECT 1 FROM ledger_legs l WHERE l.entry_id = e.id"
                " AND l.account_id LIKE %s)"
            )
            params.append(escaped + "%")
        return await self._all_shards(where, params)

    # ------------------------------------------------------------ integrity

    async def seal(self) -> int:
        """Seal committed entries into each shard's hash chain; returns how many."""
        total = 0
        for shard in range(self.shards.count):
            async with self.shards.connection(shard) as conn:
                cur = await conn.execute("SELECT ledger_seal()")
                row = await cur.fetchone()
                total += int(row[0]) if row else 0
        return total

    async def verify(self) -> VerifyReport:
        from ledger.verify import verify_shards

        return await verify_shards(self)
