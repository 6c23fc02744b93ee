"""Rerunning a cross-shard transfer id never makes new holds for a finished transfer.

Issue 13, defect 9: a first run held the source, failed on the destination and voided the
source; a rerun of the same transfer id (the destination now exists) replayed the voided
source hold, made a new destination hold, then failed to post the source (AlreadyVoided),
leaving the destination hold pending for ever.
"""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from activities.ledger import LedgerActivities
from ledger import AccountFlags, CrossShardTransfer, EntryRequest, Leg
from ledger.cross_shard import step_key
from ledger.errors import AlreadyVoided, UnknownAccount
from ledger.service import Ledger
from paysaga.domain.ledger import TransferLegInput
from tests.ledger.conftest import unique
from tests.ledger.test_entries import transfer
from tests.ledger.test_two_phase import accounts_on_two_shards


async def funded_source(ledger: Ledger, source: str, amount: int) -> None:
    await ledger.create_account(
        source, "USD", "credit", AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    )
    src_shard = await ledger.shards.shard_of(source)
    funding = f"funding:{unique('f')}"
    await ledger.create_account(funding, "USD", "debit")
    while await ledger.shards.shard_of(funding) != src_shard:
        funding = f"funding:{unique('f')}"
        await ledger.create_account(funding, "USD", "debit")
    await ledger.post_entry(transfer(unique("k"), funding, source, amount))


async def open_holds(ledger: Ledger, transfer_id: str) -> list[str]:
    """The transfer's holds that were neither posted nor voided."""
    entries = [
        e
        for e in await ledger.find_entries("transfer_id", transfer_id)
        if e.kind in ("pending", "post_pending", "void_pending")
    ]
    resolved = {e.pending_of for e in entries if e.pending_of}
    return [e.entry_id for e in entries if e.kind == "pending" and e.entry_id not in resolved]


def _leg(t: CrossShardTransfer, side: str) -> TransferLegInput:
    return TransferLegInput(
        transfer_id=t.transfer_id,
        side=side,  # type: ignore[arg-type]
        from_account=t.source_account,
        to_account=t.destination_account,
        amount_minor=t.amount_minor,
        currency=t.currency,
    )


async def _voided_first_run(ledger: Ledger) -> tuple[CrossShardTransfer, str]:
    """Run 1: source held, destination unknown, source voided. Then the destination appears."""
    source, destination = accounts_on_two_shards(ledger)
    await funded_source(ledger, source, 500)
    t = CrossShardTransfer(unique("t"), source, destination, 200, "USD")
    await ledger.hold_source(t)
    with pytest.raises(UnknownAccount):
        await ledger.hold_target(t)
    assert len(await ledger.void_cross_shard(t)) == 1
    await ledger.create_account(destination, "USD", "credit")
    return t, destination


async def test_rerun_of_a_voided_transfer_makes_no_hold(ledger: Ledger) -> None:
    t, destination = await _voided_first_run(ledger)
    activities = LedgerActivities(ledger)
    # Run 2, as the workflow drives it: each step answers with the earlier outcome.
    with pytest.raises(ApplicationError) as source_err:
        await activities.transfer_pending(_leg(t, "source"))
    assert source_err.value.type == "AlreadyVoided"
    assert "voided" in str(source_err.value)
    with pytest.raises(ApplicationError) as target_err:
        await activities.transfer_pending(_leg(t, "destination"))
    assert target_err.value.type == "AlreadyVoided"
    with pytest.raises(ApplicationError) as post_err:
        await activities.transfer_post(_leg(t, "source"))
    assert post_err.value.type == "AlreadyVoided"
    # Nothing was held on the destination; nothing is left pending anywhere.
    assert await open_holds(ledger, t.transfer_id) == []
    balances = await ledger.get_balances(destination)
    assert (balances.posted, balances.pending) == (0, 0)
    assert (await ledger.get_balances(t.source_account)).available == 500
    report = await ledger.verify()
    assert report.ok, report.violations


async def test_post_voids_a_hold_stranded_by_an_earlier_rerun(ledger: Ledger) -> None:
    """A destination hold made by a rerun before the fix is released when posting fails."""
    t, destination = await _voided_first_run(ledger)
    dest_shard = await ledger.shards.shard_of(destination)
    clearing = await ledger.clearing_account(dest_shard, "USD")
    await ledger.post_entry(
        EntryRequest(
            idempotency_key=step_key(t, "target", "hold"),
            legs=(Leg(clearing, "debit", 200, "USD"), Leg(destination, "credit", 200, "USD")),
            pending=True,
            metadata={"transfer_id": t.transfer_id, "transfer_side": "target"},
        )
    )
    assert len(await open_holds(ledger, t.transfer_id)) == 1
    with pytest.raises(AlreadyVoided):
        await ledger.post_cross_shard(t)
    assert await open_holds(ledger, t.transfer_id) == []
    assert (await ledger.get_balances(destination)).pending == 0
    report = await ledger.verify()
    assert report.ok, report.violations


async def test_rerun_of_a_completed_transfer_replays_it(ledger: Ledger) -> None:
    source, destination = accounts_on_two_shards(ledger)
    await funded_source(ledger, source, 500)
    await ledger.create_account(destination, "USD", "credit")
    t = CrossShardTransfer(unique("t"), source, destination, 200, "USD")
    await ledger.begin_cross_shard_transfer(t)
    first = await ledger.post_cross_shard(t)
    # The rerun's steps replay: the same entries, no new hold, balances unchanged.
    assert (await ledger.hold_source(t)).replayed
    assert (await ledger.hold_target(t)).replayed
    again = await ledger.post_cross_shard(t)
    assert (again.source.entry_id, again.target.entry_id) == (
        first.source.entry_id,
        first.target.entry_id,
    )
    assert len(await ledger.find_entries("transfer_id", t.transfer_id)) == 4
    assert (await ledger.get_balances(destination)).posted == 200
    assert (await ledger.get_balances(source)).posted == 300
