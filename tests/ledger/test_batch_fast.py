"""The set-based batch path and the two-leg single-entry path give exactly what
ledger_apply (the general per-entry path) gives."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from ledger import AccountFlags, EntryRequest, Leg
from ledger.errors import InsufficientFunds, InvalidEntry
from ledger.results import entry_result
from ledger.service import Ledger
from ledger.shards import stable_shard
from tests.ledger.conftest import count_rows, unique


async def shard_accounts(ledger: Ledger) -> list[str]:
    """customer (debit), merchant (no overdraft), fee (credit), escrow (no overdraft)."""
    base = unique("bf")
    names = ["customer", "merchant", "fee", "escrow"]
    ids: list[str] = []
    shard = None
    for name in names:
        i = 0
        account = f"{name}:{base}:USD"
        while shard is not None and stable_shard(account, ledger.shards.count) != shard:
            i += 1
            account = f"{name}:{base}_{i}:USD"
        shard = stable_shard(account, ledger.shards.count)
        ids.append(account)
    flag = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    await ledger.create_account(ids[0], "USD", "debit")
    await ledger.create_account(ids[1], "USD", "credit", flag)
    await ledger.create_account(ids[2], "USD", "credit")
    await ledger.create_account(ids[3], "USD", "credit", flag)
    return ids


def script(a: list[str], tag: str) -> list[EntryRequest]:
    c, m, f, e = a

    def req(n: int, legs: tuple[Leg, ...], pending: bool = False) -> EntryRequest:
        return EntryRequest(f"{tag}:{n}", legs, pending=pending, metadata={"n": n})

    return [
        req(0, (Leg(c, "debit", 1000, "USD"), Leg(m, "credit", 1000, "USD"))),
        req(1, (Leg(m, "debit", 300, "USD"), Leg(e, "credit", 300, "USD")), pending=True),
        # Three legs, and one account twice in one entry.
        req(
            2,
            (
                Leg(c, "debit", 500, "USD"),
                Leg(m, "credit", 480, "USD"),
                Leg(f, "credit", 20, "USD"),
            ),
        ),
        req(
            3,
            (
                Leg(m, "debit", 100, "USD"),
                Leg(m, "credit", 40, "USD"),
                Leg(e, "credit", 60, "USD"),
            ),
        ),
        req(4, (Leg(m, "debit", 1080, "USD"), Leg(c, "credit", 1080, "USD"))),
    ]


def shape(results: list[Any], accounts: list[str]) -> list[Any]:
    index = {a: i for i, a in enumerate(accounts)}
    return [
        (
            r.kind,
            r.status,
            r.replayed,
            [(index[g.account_id], replace(g, account_id="")) for g in r.legs],
        )
        for r in results
    ]


async def test_batch_matches_entry_by_entry(ledger: Ledger, shard_dsns: list[str]) -> None:
    fast, slow = await shard_accounts(ledger), await shard_accounts(ledger)
    batch = script(fast, unique("fast"))
    shard, _ = await ledger._prepare(batch[0])
    payloads = [(await ledger._prepare(r))[1] for r in batch]
    with psycopg.connect(shard_dsns[shard]) as conn:  # the set-based path takes this batch
        batch_json = "[" + ",".join(payloads) + "]"  # _prepare gives JSON text
        row = conn.execute("SELECT ledger_batch_fast(%s::jsonb)", (batch_json,)).fetchone()
        assert row is not None and row[0] is not None and len(row[0]) == len(batch)
        conn.rollback()
    got = await ledger.post_batch(batch)
    single = [await ledger.post_entry(r) for r in script(slow, unique("single"))]
    plain = await shard_accounts(ledger)  # ledger_apply alone, the reference path
    want = []
    for r in script(plain, unique("apply")):
        plain_shard, payload = await ledger._prepare(r)
        with psycopg.connect(shard_dsns[plain_shard], autocommit=True) as conn:
            row = conn.execute("SELECT ledger_apply(%s::jsonb, '{}'::jsonb)", (payload,)).fetchone()
        assert row is not None
        want.append(entry_result(plain_shard, row[0]))
    assert shape(got, fast) == shape(want, plain)
    assert shape(single, slow) == shape(want, plain)
    ids = [int(r.entry_id.split("-")[1]) for r in got]
    assert ids == sorted(ids)
    for a, b in [*zip(fast, plain, strict=True), *zip(slow, plain, strict=True)]:
        x, y = await ledger.get_balances(a), await ledger.get_balances(b)
        assert (x.posted, x.pending, x.version) == (y.posted, y.pending, y.version)
    assert (await ledger.verify()).ok
    replay = await ledger.post_batch(batch)
    assert [r.entry_id for r in replay] == [r.entry_id for r in got]
    assert all(r.replayed for r in replay)


async def test_batch_overdraft_in_the_middle_writes_nothing(
    ledger: Ledger, shard_dsns: list[str]
) -> None:
    c, m, _, _ = await shard_accounts(ledger)
    tag = unique("od")
    batch = [
        EntryRequest(f"{tag}:0", (Leg(c, "debit", 100, "USD"), Leg(m, "credit", 100, "USD"))),
        EntryRequest(f"{tag}:1", (Leg(m, "debit", 150, "USD"), Leg(c, "credit", 150, "USD"))),
        EntryRequest(f"{tag}:2", (Leg(c, "debit", 100, "USD"), Leg(m, "credit", 100, "USD"))),
    ]
    before = count_rows(shard_dsns)
    with pytest.raises(InsufficientFunds):
        await ledger.post_batch(batch)
    assert count_rows(shard_dsns) == before


def test_entry_json_is_entry_payload_serialised_once() -> None:
    from datetime import UTC, datetime

    from ledger import requests as rq

    request = EntryRequest(
        'k:é"1',
        (Leg("a:1", "debit", 5, "USD"), Leg("b:1", "credit", 5, "USD")),
        pending=True,
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        description="x",
        metadata={"z": [1, {"b": None}], "a": "ü"},
    )
    assert json.loads(rq.entry_json(request, None)) == rq.entry_payload(request, None)
    with pytest.raises(InvalidEntry):
        rq.entry_json(replace(request, metadata={"x": float("nan")}), None)
    with pytest.raises(InvalidEntry):
        rq.entry_json(replace(request, metadata={"x": object()}), None)


async def test_hot_two_leg_path_matches_apply(ledger: Ledger, shard_dsns: list[str]) -> None:
    """One plain and one hot account: the fast path in ledger_post gives what ledger_apply
    gives (same stripe, balances after, versions), both directions, posted and pending."""
    c, m, _, _ = await shard_accounts(ledger)
    hot = f"{m.split(':')[0]}_hot:{m.split(':', 1)[1]}"
    shard = stable_shard(c, ledger.shards.count)
    i = 0
    while stable_shard(hot, ledger.shards.count) != shard:
        i += 1
        hot = f"hot_{i}:{m.split(':', 1)[1]}"
    await ledger.create_account(hot, "USD", "credit", hot=True, stripes=4)
    tag = unique("hf")
    requests = [
        EntryRequest(f"{tag}:0", (Leg(c, "debit", 70, "USD"), Leg(hot, "credit", 70, "USD"))),
        EntryRequest(
            f"{tag}:1", (Leg(hot, "credit", 30, "USD"), Leg(c, "debit", 30, "USD")), pending=True
        ),
        EntryRequest(f"{tag}:2", (Leg(hot, "debit", 20, "USD"), Leg(c, "credit", 20, "USD"))),
    ]
    for request in requests:
        got = await ledger.post_entry(request)
        _, payload = await ledger._prepare(request)
        with psycopg.connect(shard_dsns[shard]) as conn:
            # Same transaction snapshot: remove the entry just written, then re-apply it
            # the general way (the append-only triggers are bypassed for this comparison).
            conn.execute("SET LOCAL session_replication_role = replica")
            entry_id = int(got.entry_id.split("-")[1])
            stripe = got.legs[[g.account_id for g in got.legs].index(hot)].stripe
            for table, where in (
                ("ledger_chain_queue", "entry_id"),
                ("ledger_legs", "entry_id"),
                ("ledger_entries", "id"),
            ):
                conn.execute(f"DELETE FROM {table} WHERE {where} = %s", (entry_id,))
            for g in got.legs:  # undo the balance rows to before this entry
                table, key = (
                    ("ledger_account_stripes", "account_id = %s AND stripe = %s")
                    if g.account_id == hot
                    else ("ledger_accounts", "id = %s AND %s = 0")
                )
                conn.execute(
                    f"UPDATE {table} SET debits_posted = debits_posted - %s,"
                    " credits_posted = credits_posted - %s, debits_pending = debits_pending - %s,"
                    f" credits_pending = credits_pending - %s, version = version - 1 WHERE {key}",
                    (
                        g.posted_minor if g.direction == "debit" else 0,
                        g.posted_minor if g.direction == "credit" else 0,
                        g.pending_minor if g.direction == "debit" else 0,
                        g.pending_minor if g.direction == "credit" else 0,
                        g.account_id,
                        stripe if g.account_id == hot else 0,
                    ),
                )
            conn.execute("SET LOCAL session_replication_role = origin")
            row = conn.execute(
                "SELECT ledger_apply(%s::jsonb, jsonb_build_object(%s::text, %s))",
                (payload, hot, stripe),
            ).fetchone()
            conn.rollback()
        assert row is not None
        want = entry_result(shard, row[0])
        assert [replace(g) for g in got.legs] == list(want.legs)
        assert got.kind == want.kind
    assert (await ledger.verify()).ok
