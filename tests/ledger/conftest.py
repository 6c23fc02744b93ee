"""Ledger fixtures: N shard databases on the session's embedded PostgreSQL, migrated."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from psycopg import sql

from ledger.migrate import upgrade
from ledger.service import Ledger
from paysaga.stack.postgres import EmbeddedPostgres

SHARDS = 3


@pytest.fixture(scope="module")
def shard_dsns(pg_server: EmbeddedPostgres) -> Iterator[list[str]]:
    """Three fresh shard databases per test module, migrated with Alembic."""
    prefix = f"ledger_{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}_{i}" for i in range(SHARDS)]
    dsns = [pg_server.ensure_database(name) for name in names]
    for dsn in dsns:
        upgrade(dsn)
    try:
        yield dsns
    finally:
        for name in names:
            pg_server.drop_database(name)


@pytest.fixture
async def ledger(shard_dsns: list[str]) -> AsyncIterator[Ledger]:
    async with Ledger(shard_dsns, pool_max=20) as opened:
        yield opened


def count_rows(dsns: list[str], table: str = "ledger_entries") -> int:
    total = 0
    for dsn in dsns:
        with psycopg.connect(dsn) as conn:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row is not None
            total += int(row[0])
    return total


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def allow_connections(dsn: str, allow: bool) -> None:
    """A shard outage as bench.chaos makes one: its database refuses new connections and
    its sessions are cut, while the server and the other databases stay up."""
    server, _, name = dsn.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        flag = sql.SQL("true" if allow else "false")
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
                sql.Identifier(name), flag
            )
        )
        if not allow:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
