"""One shard refusing connections, as bench.chaos `--shard-outage` does it: the database
stops allowing connections and its sessions are cut, while the server and the other
shards stay up. Calls to it fail at once with ShardUnavailable; once it is back they
succeed on the same Ledger, without reopening it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from ledger.errors import ShardUnavailable
from ledger.service import Ledger
from ledger.types import EntryRequest, EntryResult, Leg
from tests.ledger.conftest import allow_connections, unique


@pytest.fixture
def outage(shard_dsns: list[str]) -> Iterator[str]:
    """The last shard's DSN; connections to it are allowed again afterwards."""
    try:
        yield shard_dsns[-1]
    finally:
        allow_connections(shard_dsns[-1], True)


Pairs = dict[int, tuple[str, str]]


@pytest.fixture
async def accounts(ledger: Ledger, shard_dsns: list[str]) -> AsyncIterator[Pairs]:
    """A debit and a credit account on the first and on the last shard."""
    pairs: Pairs = {}
    for shard in (0, len(shard_dsns) - 1):
        debit, credit = unique("cash"), unique("payable")
        for account, side in ((debit, "debit"), (credit, "credit")):
            await ledger.shards.register(account, shard)
            await ledger.create_account(account, "USD", side)  # type: ignore[arg-type]
        pairs[shard] = (debit, credit)
    yield pairs


async def _post(ledger: Ledger, pair: tuple[str, str], key: str) -> EntryResult:
    debit, credit = pair
    return await ledger.post_entry(
        EntryRequest(
            idempotency_key=key,
            legs=(Leg(debit, "debit", 100, "USD"), Leg(credit, "credit", 100, "USD")),
        )
    )


async def _until_back(ledger: Ledger, pair: tuple[str, str], key: str) -> EntryResult:
    deadline = time.monotonic() + 20
    while True:
        try:
            return await _post(ledger, pair, key)
        except ShardUnavailable:
            assert time.monotonic() < deadline, "the shard came back but the ledger did not"
            await asyncio.sleep(0.5)


async def test_a_shard_down_fails_fast_and_recovers_in_place(
    ledger: Ledger, accounts: Pairs, outage: str
) -> None:
    last = max(accounts)
    await _post(ledger, accounts[last], unique("warm"))  # the pool holds live connections
    allow_connections(outage, False)
    key = unique("during")
    for _ in range(3):
        began = time.monotonic()
        with pytest.raises(ShardUnavailable):
            await _post(ledger, accounts[last], key)
        assert time.monotonic() - began < 5
    assert ledger.shards.status()[last] == "degraded"
    await _post(ledger, accounts[0], unique("other"))  # the other shards serve

    allow_connections(outage, True)
    result = await _until_back(ledger, accounts[last], key)
    assert result.shard == last
    assert ledger.shards.status()[last] == "ok"


async def test_a_ledger_opens_while_a_shard_refuses_connections(
    shard_dsns: list[str], outage: str
) -> None:
    allow_connections(outage, False)
    with pytest.raises(Exception, match="cannot reach ledger shard"):
        await Ledger(shard_dsns).open()  # CLI tools: one clear error
    ledger = await Ledger(shard_dsns).open(require_all=False)
    try:
        last = len(shard_dsns) - 1
        assert ledger.shards.status()[last] == "degraded"
        account = unique("later")
        await ledger.shards.register(account, last)
        with pytest.raises(ShardUnavailable):
            await ledger.create_account(account, "USD", "debit")
        allow_connections(outage, True)
        deadline = time.monotonic() + 20
        while True:
            try:
                created = await ledger.create_account(account, "USD", "debit")
                break
            except ShardUnavailable:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.5)
        assert created.account_id == account
    finally:
        await ledger.close()
