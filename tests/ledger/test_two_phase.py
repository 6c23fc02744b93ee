"""Two-phase entries, reversals, batches, cross-shard transfers, hot accounts, tampering."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ledger import AccountFlags, CrossShardTransfer, EntryRequest, Leg
from ledger.errors import (
    AlreadyPosted,
    AlreadyVoided,
    InsufficientFunds,
    LedgerInvalidAmount,
    NotPending,
    PendingExpired,
    ReversalExceedsOriginal,
    UnknownAccount,
)
from ledger.service import Ledger
from ledger.shards import stable_shard
from tests.ledger.conftest import count_rows, unique
from tests.ledger.test_entries import same_shard_pair, transfer


async def funded_pair(ledger: Ledger, amount: int = 1000) -> tuple[str, str]:
    """merchant (no overdraft) holds `amount`, paid in by customer."""
    customer, merchant = await same_shard_pair(ledger)
    await ledger.post_entry(transfer(unique("fund"), customer, merchant, amount))
    return customer, merchant


def hold(key: str, debit: str, credit: str, amount: int, expires_at: datetime | None = None):
    return EntryRequest(
        idempotency_key=key,
        legs=(Leg(debit, "debit", amount, "USD"), Leg(credit, "credit", amount, "USD")),
        pending=True,
        expires_at=expires_at,
        metadata={"payout": key},
    )


async def test_pending_holds_funds_then_posts_partially(ledger: Ledger) -> None:
    customer, merchant = await funded_pair(ledger)
    hold_key = unique("h")
    pending = await ledger.post_entry(hold(hold_key, merchant, customer, 600))
    assert pending.status == "pending"
    balances = await ledger.get_balances(merchant)
    assert (balances.posted, balances.available) == (1000, 400)
    with pytest.raises(InsufficientFunds):
        await ledger.post_entry(hold(unique("h"), merchant, customer, 401))
    with pytest.raises(LedgerInvalidAmount):
        await ledger.post_pending(pending.entry_id, unique("p"), amount_minor=601)
    key = unique("p")
    posted = await ledger.post_pending(pending.entry_id, key, amount_minor=250)
    assert posted.status == "posted" and posted.legs[0].posted_minor == 250
    assert posted.legs[0].pending_minor == -600
    again = await ledger.post_pending(pending.entry_id, key, amount_minor=250)
    assert again.replayed and again.entry_id == posted.entry_id
    balances = await ledger.get_balances(merchant)
    assert (balances.posted, balances.pending, balances.available) == (750, 0, 750)
    with pytest.raises(AlreadyPosted):
        await ledger.post_pending(pending.entry_id, unique("p"))
    with pytest.raises(AlreadyPosted):
        await ledger.void_pending(pending.entry_id, unique("v"))
    with pytest.raises(NotPending):
        await ledger.void_pending(posted.entry_id, unique("v"))
    # The posting entry carries the hold's metadata, so reconciliation finds both.
    found = await ledger.find_entries("payout", hold_key)
    assert [(e.entry_id, e.kind) for e in found] == [
        (pending.entry_id, "pending"),
        (posted.entry_id, "post_pending"),
    ]
    assert found[1].pending_of == pending.entry_id


async def test_void_releases_and_only_once(ledger: Ledger) -> None:
    customer, merchant = await funded_pair(ledger)
    pending = await ledger.post_entry(hold(unique("h"), merchant, customer, 300))
    voided = await ledger.void_pending(pending.entry_id, unique("v"))
    assert voided.status == "voided"
    assert (await ledger.get_balances(merchant)).available == 1000
    with pytest.raises(AlreadyVoided) as info:
        await ledger.post_pending(pending.entry_id, unique("p"))
    assert info.value.code == "already_voided"


async def test_concurrent_post_and_void_resolve_exactly_once(ledger: Ledger) -> None:
    customer, merchant = await funded_pair(ledger)
    pending = await ledger.post_entry(hold(unique("h"), merchant, customer, 100))
    calls = [ledger.post_pending(pending.entry_id, unique("p")) for _ in range(4)]
    calls += [ledger.void_pending(pending.entry_id, unique("v")) for _ in range(4)]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(o, (AlreadyPosted, AlreadyVoided)) for o in outcomes if o not in winners)
    assert (await ledger.verify()).ok


async def test_expired_pending_can_only_be_voided(ledger: Ledger) -> None:
    customer, merchant = await funded_pair(ledger)
    soon = datetime.now(UTC) + timedelta(milliseconds=300)
    pending = await ledger.post_entry(hold(unique("h"), merchant, customer, 100, soon))
    await asyncio.sleep(0.4)
    with pytest.raises(PendingExpired) as info:
        await ledger.post_pending(pending.entry_id, unique("p"))
    assert info.value.code == "pending_expired"
    await ledger.void_pending(pending.entry_id, unique("v"))
    assert (await ledger.get_balances(merchant)).available == 1000


async def test_reversal_full_partial_and_bounded(ledger: Ledger) -> None:
    customer, merchant = await same_shard_pair(ledger)
    charge_request = transfer(unique("c"), customer, merchant, 1000)
    charge = await ledger.post_entry(charge_request)
    refund = await ledger.reverse_entry(charge.entry_id, unique("r"), amount_minor=300)
    assert refund.kind == "reversal"
    assert [(g.account_id, g.direction) for g in refund.legs] == [
        (customer, "credit"),
        (merchant, "debit"),
    ]
    charge_key = charge_request.idempotency_key
    stored = await ledger.find_entries("payment_id", charge_key)
    assert [e.entry_id for e in stored] == [charge.entry_id]
    with pytest.raises(ReversalExceedsOriginal):
        await ledger.reverse_entry(charge.entry_id, unique("r"), amount_minor=701)
    await ledger.reverse_entry(charge.entry_id, unique("r"), amount_minor=700)
    with pytest.raises(ReversalExceedsOriginal):
        await ledger.reverse_entry(charge.entry_id, unique("r"))
    assert (await ledger.get_balances(merchant)).posted == 0
    second = await ledger.post_entry(transfer(unique("c"), customer, merchant, 40))
    full = await ledger.reverse_entry(second.entry_id, unique("r"))
    assert full.legs[1].posted_minor == 40 and full.legs[1].balance_after == 0
    refunds = await ledger.find_entries("payment_id", charge_key)
    assert [e.entry_id for e in refunds] == [charge.entry_id]
    assert (await ledger.verify()).ok


async def test_batch_is_atomic(ledger: Ledger, shard_dsns: list[str]) -> None:
    customer, merchant = await same_shard_pair(ledger)
    batch = [transfer(unique("b"), customer, merchant, 10) for _ in range(50)]
    results = await ledger.post_batch(batch)
    assert len(results) == 50 and len({r.entry_id for r in results}) == 50
    assert (await ledger.get_balances(merchant)).posted == 500
    before = count_rows(shard_dsns)
    bad = [transfer(unique("b"), customer, merchant, 10) for _ in range(5)]
    bad.append(transfer(unique("b"), merchant, customer, 10_000))
    with pytest.raises(InsufficientFunds):
        await ledger.post_batch(bad)
    assert count_rows(shard_dsns) == before
    replay = await ledger.post_batch(batch[:3])
    assert all(r.replayed for r in replay)


def accounts_on_two_shards(ledger: Ledger) -> tuple[str, str]:
    base = unique("xs")
    first = f"wallet:{base}:a"
    i = 0
    second = f"wallet:{base}:b{i}"
    while stable_shard(second, ledger.shards.count) == stable_shard(first, ledger.shards.count):
        i += 1
        second = f"wallet:{base}:b{i}"
    return first, second


async def test_cross_shard_transfer_saga(ledger: Ledger) -> None:
    source, destination = accounts_on_two_shards(ledger)
    funding = f"funding:{unique('f')}"
    await ledger.create_account(
        source, "USD", "credit", AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    )
    await ledger.create_account(destination, "USD", "credit")
    src_shard = await ledger.shards.shard_of(source)
    await ledger.create_account(funding, "USD", "debit")
    while await ledger.shards.shard_of(funding) != src_shard:
        funding = f"funding:{unique('f')}"
        await ledger.create_account(funding, "USD", "debit")
    await ledger.post_entry(transfer(unique("k"), funding, source, 500))

    t = CrossShardTransfer(unique("t"), source, destination, 200, "USD", metadata={"p": "1"})
    holds = await ledger.begin_cross_shard_transfer(t)
    assert holds.source.shard != holds.target.shard
    assert (await ledger.get_balances(source)).available == 300
    assert (await ledger.get_balances(destination)).posted == 0
    assert (await ledger.hold_source(t)).replayed
    done = await ledger.post_cross_shard(t)
    assert (await ledger.post_cross_shard(t)).source.replayed
    assert done.source.status == done.target.status == "posted"
    assert (await ledger.get_balances(source)).posted == 300
    assert (await ledger.get_balances(destination)).posted == 200
    assert len(await ledger.find_entries("transfer_id", t.transfer_id)) == 4

    # A transfer that cannot be held on the target side is compensated on the source.
    bad = CrossShardTransfer(unique("t"), source, "wallet:missing", 100, "USD")
    with pytest.raises(UnknownAccount):
        await ledger.begin_cross_shard_transfer(bad)
    assert (await ledger.get_balances(source)).available == 300
    voided = CrossShardTransfer(unique("t"), source, destination, 50, "USD")
    await ledger.begin_cross_shard_transfer(voided)
    assert len(await ledger.void_cross_shard(voided)) == 2
    assert len(await ledger.void_cross_shard(voided)) == 2  # idempotent
    assert (await ledger.get_balances(source)).available == 300
    report = await ledger.verify()
    assert report.ok, report.violations


async def test_hot_account_stripes_and_overdraft_check(ledger: Ledger) -> None:
    base = unique("hot")
    merchant = f"merchant_payable:{base}:USD"
    await ledger.create_account(
        merchant, "USD", "credit", AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS, hot=True, stripes=8
    )
    shard = await ledger.shards.shard_of(merchant)
    payers = []
    for i in range(40):
        payer = f"customer:{base}:{i}"
        if stable_shard(payer, ledger.shards.count) == shard:
            await ledger.create_account(payer, "USD", "debit")
            payers.append(payer)
    assert len(payers) >= 4
    results = await asyncio.gather(
        *(
            ledger.post_entry(transfer(unique("pay"), payers[i % len(payers)], merchant, 10))
            for i in range(60)
        )
    )
    stripes_used = {r.legs[1].stripe for r in results}
    assert len(stripes_used) > 1 and all(1 <= s <= 8 for s in stripes_used)
    balances = await ledger.get_balances(merchant)
    assert (balances.posted, balances.version) == (600, 60)
    # Debits check the whole balance across stripes, concurrently.
    payouts = await asyncio.gather(
        *(ledger.post_entry(transfer(unique("out"), merchant, payers[0], 70)) for _ in range(10)),
        return_exceptions=True,
    )
    ok = [p for p in payouts if not isinstance(p, BaseException)]
    assert len(ok) == 8
    assert all(isinstance(p, InsufficientFunds) for p in payouts if isinstance(p, BaseException))
    assert (await ledger.get_balances(merchant)).posted == 40
    report = await ledger.verify()
    assert report.ok, report.violations


async def test_verify_names_tampered_entry(ledger: Ledger) -> None:
    customer, merchant = await same_shard_pair(ledger)
    result = await ledger.post_entry(transfer(unique("k"), customer, merchant, 100))
    other = await ledger.post_entry(transfer(unique("k"), customer, merchant, 5))
    assert (await ledger.verify()).ok  # also seals both entries into the chain
    shard, entry_id = result.shard, int(result.entry_id.split("-")[1])
    with psycopg.connect(ledger.shards.dsns[shard], autocommit=True) as conn:
        # A superuser bypasses the append-only triggers to rewrite history.
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            'UPDATE ledger_entries SET metadata = \'{"payment_id": "forged"}\' WHERE id = %s',
            (entry_id,),
        )
    report = await ledger.verify()
    assert not report.ok
    assert report.first is not None and report.first.check == "hash_chain"
    assert result.entry_id in str(report.first)
    with psycopg.connect(ledger.shards.dsns[shard], autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE ledger_legs SET posted_amount = 7 WHERE entry_id = %s",
            (int(other.entry_id.split("-")[1]),),
        )
    checks = {v.check for v in (await ledger.verify()).violations}
    assert {"hash_chain", "balance"} <= checks
