"""Shard routing: one PostgreSQL database per shard, and the account directory.

A new account's shard is a stable hash of its id; the choice is recorded in the
directory table on shard 0 and cached in process. Existing accounts never move when
shards are added: only new accounts see the new shard count.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from ledger.dsn import libpq_dsn, redact
from ledger.errors import ShardUnavailable, UnknownAccount, UnknownEntry
from ledger.shard_health import ShardHealth, first_line
from paysaga.domain.errors import ConfigurationError

DIRECTORY_SHARD = 0
CONNECT_TIMEOUT_S = 5
RECONNECT_TIMEOUT_S = 10.0


def stable_shard(account_id: str, shard_count: int) -> int:
    """Same id, same shard, in every process and Python version (unlike hash())."""
    digest = hashlib.sha256(account_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shard_count


def entry_ref(shard: int, entry_id: int) -> str:
    return f"{shard}-{entry_id}"


def parse_entry_ref(entry_id: str, shard_count: int) -> tuple[int, int]:
    shard_text, sep, id_text = (
        entry_id.partition("-") if isinstance(entry_id, str) else ("", "", "")
    )
    if not sep or not shard_text.isdigit() or not id_text.isdigit():
        raise UnknownEntry(f"{entry_id!r} is not a ledger entry id", field="entry_id")
    shard = int(shard_text)
    if shard >= shard_count:
        raise UnknownEntry(f"entry {entry_id} names shard {shard}, which does not exist")
    return shard, int(id_text)


class Shards:
    """Connection pools per shard plus the cached account directory."""

    def __init__(self, dsns: Sequence[str], *, min_size: int = 1, max_size: int = 10) -> None:
        if not dsns:
            raise ConfigurationError(
                "no ledger shards configured (PAYSAGA_DATABASE_URLS)", field="PAYSAGA_DATABASE_URLS"
            )
        self.dsns = [libpq_dsn(d) for d in dsns]
        self.pools = [
            AsyncConnectionPool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                open=False,
                # autocommit: a posting function call is its own transaction, one round trip.
                kwargs={
                    "autocommit": True,
                    "prepare_threshold": 0,
                    "connect_timeout": CONNECT_TIMEOUT_S,
                },
                # A slot that cannot reconnect gives up soon instead of backing off for
                # minutes: once the shard is back, the next request grows the pool at once.
                reconnect_timeout=RECONNECT_TIMEOUT_S,
                name=f"ledger-shard-{i}",
            )
            for i, dsn in enumerate(self.dsns)
        ]
        self.health = [ShardHealth(i, dsn) for i, dsn in enumerate(self.dsns)]
        self._directory: dict[str, int] = {}

    @property
    def count(self) -> int:
        return len(self.pools)

    async def open(self, *, require_all: bool = True) -> None:
        """Open every pool. require_all (CLI tools): fail at once, naming the shard, if one
        is unreachable. Otherwise (long-running workers and the API) a shard that is down
        is logged and probed again on use; the others serve meanwhile."""
        if not require_all:
            await asyncio.gather(*(health.probe() for health in self.health))
            for pool in self.pools:
                await pool.open(wait=False)
            return
        for pool, dsn in zip(self.pools, self.dsns, strict=True):
            try:
                # One direct attempt first: a clear error now instead of pool retries.
                probe = await psycopg.AsyncConnection.connect(dsn, connect_timeout=5)
                await probe.close()
                await pool.open(wait=True, timeout=15)
            except (psycopg.Error, TimeoutError, OSError) as exc:
                raise ConfigurationError(
                    f"cannot reach ledger shard {redact(dsn)} (PAYSAGA_DATABASE_URLS): "
                    f"{first_line(exc)}",
                    field="PAYSAGA_DATABASE_URLS",
                ) from None
            except Exception as exc:  # the pool reports timeouts with its own types
                raise ConfigurationError(
                    f"cannot reach ledger shard {redact(dsn)} (PAYSAGA_DATABASE_URLS): {exc}",
                    field="PAYSAGA_DATABASE_URLS",
                ) from None

    async def close(self) -> None:
        for pool in self.pools:
            await pool.close()

    def status(self) -> dict[int, str]:
        """ "ok" or "degraded" per shard, as the last call or probe found it."""
        return {health.index: health.status() for health in self.health}

    async def ensure_up(self, shard: int) -> None:
        """Raise ShardUnavailable at once while the shard is known to be down."""
        if await self.health[shard].ensure_up():
            # Back: drop the idle connections its outage broke before anyone gets one.
            await self.pools[shard].check()

    async def unavailable(self, shard: int, exc: psycopg.OperationalError) -> ShardUnavailable:
        """The error for a failed call; probes the shard, so later calls fail fast if it
        is down (a query error on a live shard leaves it up)."""
        health = self.health[shard]
        await health.recheck()
        return ShardUnavailable(f"ledger shard {shard} unavailable: {health.reason(exc)}")

    @asynccontextmanager
    async def connection(self, shard: int) -> AsyncIterator[psycopg.AsyncConnection[TupleRow]]:
        await self.ensure_up(shard)
        try:
            async with self.pools[shard].connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise await self.unavailable(shard, exc) from exc

    # ------------------------------------------------------------ directory

    def cached_shard(self, account_id: str) -> int | None:
        return self._directory.get(account_id)

    async def register(self, account_id: str, shard: int | None = None) -> int:
        """Record an account's shard (first writer wins) and return the recorded one."""
        known = self._directory.get(account_id)
        if known is not None:
            return known
        wanted = stable_shard(account_id, self.count) if shard is None else shard
        async with self.connection(DIRECTORY_SHARD) as conn:
            cur = await conn.execute(
                "INSERT INTO ledger_directory (account_id, shard) VALUES (%s, %s) "
                "ON CONFLICT (account_id) DO NOTHING RETURNING shard",
                (account_id, wanted),
            )
            row = await cur.fetchone()
            if row is None:
                cur = await conn.execute(
                    "SELECT shard FROM ledger_directory WHERE account_id = %s", (account_id,)
                )
                row = await cur.fetchone()
        assert row is not None
        self._directory[account_id] = int(row[0])
        return int(row[0])

    async def shards_of(self, account_ids: Iterable[str]) -> dict[str, int]:
        ids = set(account_ids)
        missing = sorted(a for a in ids if a not in self._directory)
        if missing:
            async with self.connection(DIRECTORY_SHARD) as conn:
                cur = await conn.execute(
                    "SELECT account_id, shard FROM ledger_directory WHERE account_id = ANY(%s)",
                    (missing,),
                )
                for account_id, shard in await cur.fetchall():
                    self._directory[account_id] = int(shard)
        unknown = sorted(a for a in ids if a not in self._directory)
        if unknown:
            raise UnknownAccount(f"account {unknown[0]} does not exist", field="account_id")
        return {a: self._directory[a] for a in ids}

    async def shard_of(self, account_id: str) -> int:
        return (await self.shards_of([account_id]))[account_id]
