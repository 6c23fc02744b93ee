"""Fixtures of the API tests: migrated shard databases on the session's embedded PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from client.control.db import control_engine
from ledger.migrate import upgrade_all
from stack.postgres import EmbeddedPostgres


@pytest.fixture(scope="session")
def shard_dsns(pg_server: EmbeddedPostgres) -> list[str]:
    """Two ledger shards (shard 0 is also the control database), migrated to heads."""
    prefix = f"api_{uuid.uuid4().hex[:8]}"
    dsns = [pg_server.ensure_database(f"{prefix}_shard_{i}") for i in range(2)]
    upgrade_all(dsns)
    return dsns


@pytest.fixture(scope="session")
async def control_db(shard_dsns: list[str]) -> AsyncIterator[AsyncEngine]:
    engine = control_engine(shard_dsns[0])
    try:
        yield engine
    finally:
        await engine.dispose()
