"""Accounts, entries, idempotency and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger import AccountFlags, EntryRequest, Leg
from ledger.errors import (
    AccountConflict,
    CrossShardEntry,
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidEntry,
    LedgerInvalidAmount,
    UnbalancedEntry,
    UnknownAccount,
)
from ledger.service import Ledger
from ledger.shards import stable_shard
from tests.ledger.conftest import count_rows, unique


async def same_shard_pair(ledger: Ledger, currency: str = "USD") -> tuple[str, str]:
    """A customer (debit-normal, may go negative) and a merchant (no overdraft)."""
    base = unique("pair")
    a, b = f"customer:{base}:{currency}", f"merchant_payable:{base}:{currency}"
    shard = stable_shard(a, ledger.shards.count)
    i = 0
    while stable_shard(b, ledger.shards.count) != shard:
        i += 1
        b = f"merchant_payable:{base}_{i}:{currency}"
    await ledger.create_account(a, currency, "debit")
    await ledger.create_account(b, currency, "credit", AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    return a, b


def transfer(key: str, debit: str, credit: str, amount: int, currency: str = "USD") -> EntryRequest:
    return EntryRequest(
        idempotency_key=key,
        legs=(Leg(debit, "debit", amount, currency), Leg(credit, "credit", amount, currency)),
        metadata={"payment_id": key},
    )


async def test_create_account_is_idempotent(ledger: Ledger) -> None:
    account_id = f"merchant_payable:{unique('m')}:USD"
    first = await ledger.create_account(account_id, "USD", "credit", metadata={"m": 1})
    again = await ledger.create_account(account_id, "USD", "credit", metadata={"m": 1})
    assert first == again
    with pytest.raises(AccountConflict) as info:
        await ledger.create_account(account_id, "EUR", "credit")
    assert info.value.code == "account_conflict"
    with pytest.raises(InvalidEntry):
        await ledger.create_account("bad id with spaces", "USD", "credit")
    with pytest.raises(InvalidEntry):
        await ledger.create_account("clearing:0:USD", "USD", "debit")


async def test_post_records_balances_before_and_after(ledger: Ledger) -> None:
    customer, merchant = await same_shard_pair(ledger)
    result = await ledger.post_entry(transfer(unique("k"), customer, merchant, 1250))
    assert result.status == "posted" and not result.replayed
    debit, credit = result.legs
    assert (debit.balance_before, debit.balance_after) == (0, 1250)
    assert (credit.balance_before, credit.balance_after, credit.version) == (0, 1250, 1)
    second = await ledger.post_entry(transfer(unique("k"), customer, merchant, 50))
    assert (second.legs[1].balance_before, second.legs[1].balance_after) == (1250, 1300)
    balances = await ledger.get_balances(merchant)
    assert (balances.posted, balances.pending, balances.available, balances.version) == (
        1300,
        0,
        1300,
        2,
    )


async def test_idempotent_replay_and_conflict(ledger: Ledger, shard_dsns: list[str]) -> None:
    customer, merchant = await same_shard_pair(ledger)
    key = unique("idem")
    first = await ledger.post_entry(transfer(key, customer, merchant, 700))
    before = count_rows(shard_dsns)
    again = await ledger.post_entry(transfer(key, customer, merchant, 700))
    assert again.replayed and again.entry_id == first.entry_id and again.legs == first.legs
    with pytest.raises(IdempotencyConflict) as info:
        await ledger.post_entry(transfer(key, customer, merchant, 701))
    assert info.value.code == "idempotency_conflict"
    assert count_rows(shard_dsns) == before
    assert (await ledger.get_balances(merchant)).posted == 700


async def test_insufficient_funds_writes_nothing(ledger: Ledger, shard_dsns: list[str]) -> None:
    customer, merchant = await same_shard_pair(ledger)
    await ledger.post_entry(transfer(unique("k"), customer, merchant, 100))
    before = count_rows(shard_dsns)
    with pytest.raises(InsufficientFunds) as info:
        await ledger.post_entry(transfer(unique("k"), merchant, customer, 101))
    assert info.value.code == "insufficient_funds"
    assert count_rows(shard_dsns) == before
    await ledger.post_entry(transfer(unique("k"), merchant, customer, 100))
    assert (await ledger.get_balances(merchant)).posted == 0


@pytest.mark.parametrize(
    ("legs", "error"),
    [
        (lambda a, b: (Leg(a, "debit", 0, "USD"), Leg(b, "credit", 0, "USD")), LedgerInvalidAmount),
        (
            lambda a, b: (Leg(a, "debit", -5, "USD"), Leg(b, "credit", -5, "USD")),
            LedgerInvalidAmount,
        ),
        (
            lambda a, b: (Leg(a, "debit", 1.5, "USD"), Leg(b, "credit", 1.5, "USD")),  # type: ignore[arg-type]
            LedgerInvalidAmount,
        ),
        (
            lambda a, b: (Leg(a, "debit", True, "USD"), Leg(b, "credit", True, "USD")),
            LedgerInvalidAmount,
        ),
        (lambda a, b: (Leg(a, "debit", 5, "XXX"), Leg(b, "credit", 5, "XXX")), InvalidEntry),
        (lambda a, b: (Leg(a, "debit", 5, "USD"), Leg(b, "credit", 4, "USD")), UnbalancedEntry),
        (lambda a, b: (Leg(a, "debit", 5, "USD"),), UnbalancedEntry),
        (lambda a, b: (), UnbalancedEntry),
        (
            lambda a, b: (Leg(a, "debit", 5, "USD"), Leg(b, "sideways", 5, "USD")),  # type: ignore[arg-type]
            InvalidEntry,
        ),
        (lambda a, b: (Leg(a, "debit", 5, "EUR"), Leg(b, "credit", 5, "EUR")), CurrencyMismatch),
        (
            lambda a, b: (Leg(a, "debit", 5, "USD"), Leg("nobody:1", "credit", 5, "USD")),
            UnknownAccount,
        ),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    ledger: Ledger, shard_dsns: list[str], legs, error
) -> None:
    customer, merchant = await same_shard_pair(ledger)
    before = count_rows(shard_dsns), count_rows(shard_dsns, "ledger_legs")
    with pytest.raises(error) as info:
        await ledger.post_entry(EntryRequest(unique("bad"), legs(customer, merchant)))
    assert info.value.code == error.code
    assert (count_rows(shard_dsns), count_rows(shard_dsns, "ledger_legs")) == before
    assert (await ledger.get_balances(customer)).version == 0


async def test_sql_refuses_bad_input_on_its_own(ledger: Ledger) -> None:
    """The posting function checks again: a direct caller cannot skip the rules."""
    customer, merchant = await same_shard_pair(ledger)
    shard = await ledger.shards.shard_of(customer)
    unbalanced: dict[str, Any] = {
        "key": unique("raw"),
        "hash": "x",
        "kind": "standard",
        "legs": [
            {"a": customer, "d": "debit", "n": 5, "c": "USD"},
            {"a": merchant, "d": "credit", "n": 4, "c": "USD"},
        ],
    }
    with pytest.raises(UnbalancedEntry):
        await ledger._call(shard, "SELECT ledger_post(%s::jsonb)", unbalanced)
    floaty = {**unbalanced, "legs": [{**leg, "n": 4.5} for leg in unbalanced["legs"]]}
    with pytest.raises(LedgerInvalidAmount):
        await ledger._call(shard, "SELECT ledger_post(%s::jsonb)", floaty)


async def test_database_refuses_unbalanced_rows_and_updates(ledger: Ledger) -> None:
    """Constraint triggers: raw INSERTs that do not balance, and UPDATEs, are refused."""
    import psycopg

    customer, merchant = await same_shard_pair(ledger)
    result = await ledger.post_entry(transfer(unique("k"), customer, merchant, 10))
    shard = result.shard
    entry_id = int(result.entry_id.split("-")[1])
    with psycopg.connect(ledger.shards.dsns[shard]) as conn:
        with pytest.raises(psycopg.Error, match="unbalanced_entry"), conn.transaction():
            cur = conn.execute(
                "INSERT INTO ledger_entries (idempotency_key, body_hash, kind, leg_count)"
                " VALUES ('raw-1', 'x', 'standard', 2) RETURNING id"
            )
            new_id = cur.fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO ledger_legs VALUES"
                " (%s, 0, %s, 0, 'debit', 'USD', 5, 0, 0, 0, 0, 0, 1),"
                " (%s, 1, %s, 0, 'credit', 'USD', 4, 0, 0, 0, 0, 0, 1)",
                (new_id, customer, new_id, merchant),
            )
        with pytest.raises(psycopg.Error, match="unbalanced_entry"), conn.transaction():
            conn.execute(
                "INSERT INTO ledger_legs VALUES"
                " (%s, 2, %s, 0, 'debit', 'USD', 5, 0, 0, 0, 0, 0, 1)",
                (entry_id, customer),
            )
        with pytest.raises(psycopg.Error, match="append_only"), conn.transaction():
            conn.execute(
                "UPDATE ledger_legs SET posted_amount = 1 WHERE entry_id = %s", (entry_id,)
            )
        with pytest.raises(psycopg.Error, match="append_only"), conn.transaction():
            conn.execute("DELETE FROM ledger_entries WHERE id = %s", (entry_id,))


async def test_cross_shard_entry_is_refused(ledger: Ledger) -> None:
    base = unique("x")
    accounts = [f"acct:{base}:{i}" for i in range(12)]
    by_shard: dict[int, str] = {}
    for account_id in accounts:
        by_shard.setdefault(stable_shard(account_id, ledger.shards.count), account_id)
    a, b = list(by_shard.values())[:2]
    await ledger.create_account(a, "USD", "debit")
    await ledger.create_account(b, "USD", "credit")
    with pytest.raises(CrossShardEntry):
        await ledger.post_entry(transfer(unique("k"), a, b, 5))


async def test_back_dated_entry_and_queries(ledger: Ledger) -> None:
    customer, merchant = await same_shard_pair(ledger)
    payment_id = unique("pay")
    when = datetime(2024, 3, 1, 12, tzinfo=UTC)
    request = EntryRequest(
        idempotency_key=unique("k"),
        legs=(Leg(customer, "debit", 99, "USD"), Leg(merchant, "credit", 99, "USD")),
        effective_at=when,
        metadata={"payment_id": payment_id, "gateway": "stripe"},
    )
    result = await ledger.post_entry(request)
    assert result.effective_at == when
    found = await ledger.find_entries("payment_id", payment_id)
    assert [e.entry_id for e in found] == [result.entry_id]
    assert found[0].metadata["gateway"] == "stripe" and found[0].legs[1].account_id == merchant
    listed = await ledger.list_entries(when - timedelta(hours=1), when + timedelta(hours=1))
    assert result.entry_id in {e.entry_id for e in listed}
    prefix = merchant.rsplit(":", 1)[0]
    only = await ledger.list_entries(when - timedelta(hours=1), when + timedelta(hours=1), prefix)
    assert [e.entry_id for e in only] == [result.entry_id]
    none = await ledger.list_entries(when - timedelta(hours=1), when + timedelta(hours=1), "zz:")
    assert result.entry_id not in {e.entry_id for e in none}
