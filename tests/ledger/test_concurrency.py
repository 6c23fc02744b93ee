"""Concurrent writers: no deadlocks, every accepted entry exactly once, invariants hold."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import AccountFlags, CrossShardTransfer, EntryRequest, Leg
from ledger.errors import LedgerError
from ledger.service import Ledger
from ledger.shards import stable_shard
from ledger.types import Direction
from tests.ledger.conftest import unique


async def accounts_on_shard(ledger: Ledger, shard: int, count: int, base: str) -> list[str]:
    found: list[str] = []
    i = 0
    while len(found) < count:
        candidate = f"acct:{base}:{i}"
        if stable_shard(candidate, ledger.shards.count) == shard:
            found.append(candidate)
        i += 1
    return found


async def test_sixteen_writers_same_accounts(ledger: Ledger) -> None:
    base = unique("c16")
    accounts = await accounts_on_shard(ledger, 0, 4, base)
    flags = [AccountFlags.NONE, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS]
    for i, account_id in enumerate(accounts):
        await ledger.create_account(account_id, "USD", "credit", flags[i % 2])
    accepted: list[str] = []
    refused: list[LedgerError] = []

    async def writer(n: int) -> None:
        rng = random.Random(n)
        for j in range(25):
            a, b = rng.sample(accounts, 2)
            legs = [Leg(a, "debit", rng.randint(1, 50), "USD")]
            legs.append(Leg(b, "credit", legs[0].amount_minor, "USD"))
            if j % 5 == 0:  # three-leg entries lock three accounts
                c = next(x for x in accounts if x not in (a, b))
                legs = [Leg(a, "debit", 20, "USD"), Leg(b, "credit", 15, "USD")]
                legs.append(Leg(c, "credit", 5, "USD"))
            key = f"{base}:{n}:{j}"
            try:
                await ledger.post_entry(EntryRequest(key, tuple(reversed(legs))))
                accepted.append(key)
            except LedgerError as exc:
                refused.append(exc)

    await asyncio.gather(*(writer(n) for n in range(16)))
    assert all(exc.code == "insufficient_funds" for exc in refused)
    assert len(accepted) + len(refused) == 16 * 25 and accepted
    with psycopg.connect(ledger.shards.dsns[0]) as conn:
        rows = conn.execute(
            "SELECT idempotency_key, count(*) FROM ledger_entries"
            " WHERE idempotency_key LIKE %s GROUP BY 1",
            (f"{base}:%",),
        ).fetchall()
    assert sorted(k for k, _ in rows) == sorted(accepted)
    assert all(n == 1 for _, n in rows)
    report = await ledger.verify()
    assert report.ok, report.violations


@dataclass
class World:
    ledger: Ledger
    accounts: list[str]
    cross: list[tuple[str, str]]
    entries: list[str] = field(default_factory=list)
    pendings: list[str] = field(default_factory=list)


OPS = st.lists(
    st.tuples(
        st.sampled_from(["post", "pending", "resolve", "reverse", "cross", "batch"]),
        st.integers(0, 3),
        st.integers(0, 3),
        st.integers(1, 400),
        st.booleans(),
    ),
    min_size=4,
    max_size=24,
)


async def run_op(world: World, op: tuple[str, int, int, int, bool], key: str) -> None:
    kind, i, j, amount, flag = op
    ledger, accts = world.ledger, world.accounts
    a, b = accts[i], accts[(i + 1 + j % 3) % 4]
    legs = (Leg(a, "debit", amount, "USD"), Leg(b, "credit", amount, "USD"))
    if kind == "post":
        world.entries.append((await ledger.post_entry(EntryRequest(key, legs))).entry_id)
    elif kind == "pending":
        world.pendings.append((await ledger.post_entry(EntryRequest(key, legs, True))).entry_id)
    elif kind == "resolve" and world.pendings:
        target = world.pendings[j % len(world.pendings)]
        if flag:
            partial = amount if amount % 2 else None
            world.entries.append((await ledger.post_pending(target, key, partial)).entry_id)
        else:
            await ledger.void_pending(target, key)
    elif kind == "reverse" and world.entries:
        target = world.entries[j % len(world.entries)]
        await ledger.reverse_entry(target, key, amount if flag else None)
    elif kind == "cross":
        source, destination = world.cross[i % 2]
        t = CrossShardTransfer(key, source, destination, amount, "USD")
        await ledger.begin_cross_shard_transfer(t)
        if flag:
            await ledger.post_cross_shard(t)
        else:
            await ledger.void_cross_shard(t)
    elif kind == "batch":
        batch = [EntryRequest(f"{key}:{n}", legs) for n in range(3)]
        world.entries.extend(r.entry_id for r in await ledger.post_batch(batch))


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(programs=st.lists(OPS, min_size=3, max_size=3))
async def test_any_interleaving_keeps_the_books(ledger: Ledger, programs) -> None:
    base = unique("prop")
    accounts = await accounts_on_shard(ledger, 1, 4, base)
    flags = [
        AccountFlags.NONE,
        AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
        AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
        AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    ]
    sides: list[Direction] = ["debit", "credit", "debit", "credit"]
    for n, account_id in enumerate(accounts):
        await ledger.create_account(
            account_id,
            "USD",
            sides[n],
            flags[n],
            hot=n == 3,
            stripes=4,
        )
    far = await accounts_on_shard(ledger, 2, 2, base)
    for account_id in far:
        await ledger.create_account(account_id, "USD", "credit")
    world = World(ledger, accounts, [(accounts[0], far[0]), (far[1], accounts[1])])
    # Seed money so that flagged accounts can move some of it.
    await ledger.post_entry(
        EntryRequest(
            f"{base}:seed1",
            (Leg(accounts[0], "debit", 2000, "USD"), Leg(accounts[1], "credit", 2000, "USD")),
        )
    )
    await ledger.post_entry(
        EntryRequest(
            f"{base}:seed3",
            (Leg(accounts[0], "debit", 2000, "USD"), Leg(accounts[3], "credit", 2000, "USD")),
        )
    )
    await ledger.post_entry(
        EntryRequest(
            f"{base}:seedfar",
            (Leg(far[1], "debit", 2000, "USD"), Leg(far[0], "credit", 2000, "USD")),
        )
    )

    async def worker(w: int, program: list[tuple[str, int, int, int, bool]]) -> None:
        for n, op in enumerate(program):
            try:
                await run_op(world, op, f"{base}:{w}:{n}")
            except LedgerError as exc:
                # Business refusals are fine; anything else (deadlock, bug) fails the test.
                assert exc.code in {
                    "insufficient_funds",
                    "already_posted",
                    "already_voided",
                    "reversal_exceeds_original",
                    "invalid_amount",
                    "not_reversible",
                }, exc

    await asyncio.gather(*(worker(w, p) for w, p in enumerate(programs)))
    report = await ledger.verify()
    assert report.ok, report.violations
    for account_id, flag in zip(accounts, flags, strict=True):
        balances = await ledger.get_balances(account_id)
        if flag == AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS:
            assert balances.credits_posted - balances.debits_posted - balances.debits_pending >= 0
        if flag == AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS:
            assert balances.debits_posted - balances.credits_posted - balances.credits_pending >= 0
