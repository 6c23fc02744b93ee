"""`paysaga ledger verify|balance` against real shards."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from ledger import EntryRequest, Leg
from ledger.service import Ledger
from paysaga.cli.main import app
from paysaga.config.settings import get_settings
from tests.ledger.conftest import unique

runner = CliRunner()


@pytest.fixture
def use_shards(shard_dsns: list[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    monkeypatch.setenv("PAYSAGA_DATABASE_URLS", ",".join(shard_dsns))
    get_settings.cache_clear()
    yield shard_dsns
    get_settings.cache_clear()


async def _seed(dsns: list[str]) -> tuple[str, str]:
    async with Ledger(dsns) as ledger:
        a, b = f"cli:{unique('a')}", f"cli:{unique('b')}"
        await ledger.create_account(a, "USD", "debit")
        await ledger.create_account(b, "USD", "credit")
        shard = await ledger.shards.shard_of(a)
        while await ledger.shards.shard_of(b) != shard:
            b = f"cli:{unique('b')}"
            await ledger.create_account(b, "USD", "credit")
        result = await ledger.post_entry(
            EntryRequest(unique("k"), (Leg(a, "debit", 42, "USD"), Leg(b, "credit", 42, "USD")))
        )
        return b, result.entry_id


def test_verify_and_balance(use_shards: list[str]) -> None:
    # Sync test: the CLI runs its own event loop with asyncio.run.
    account, entry_id = asyncio.run(_seed(use_shards))
    result = runner.invoke(app, ["ledger", "balance", account])
    assert result.exit_code == 0, result.output
    assert "42" in result.output
    result = runner.invoke(app, ["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output

    shard, row_id = (int(x) for x in entry_id.split("-"))
    with psycopg.connect(use_shards[shard], autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE ledger_legs SET posted_amount = 41 WHERE entry_id = %s", (row_id,))
    result = runner.invoke(app, ["ledger", "verify"])
    assert result.exit_code == 1
    assert f"entry {entry_id}" in result.output.replace("\n", " ")


def test_bad_dsn_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSAGA_DATABASE_URLS", "postgresql://postgres@127.0.0.1:1/nowhere")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["ledger", "verify"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "PAYSAGA_DATABASE_URLS" in result.output
    assert "Traceback" not in result.output
