"""A transfer between accounts on two shards, as saga steps over per-shard clearing accounts.

Each shard's books balance on their own: the source shard holds a debit of the source
against its clearing account, the destination shard a credit from its own. Every step
has an idempotency key derived from the transfer id and step, so the workflow
(workflows/transfer.py) may repeat any of them.

A transfer id is finished once a hold of it was voided: every later step answers
AlreadyVoided instead of holding anew, so a rerun of the id can never hold one side
against a released other side (and strand that hold pending).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger import requests as rq
from ledger.errors import AlreadyVoided, LedgerError, UnknownAccount, UnknownEntry
from ledger.shards import parse_entry_ref
from ledger.types import CrossShardHolds, CrossShardTransfer, EntryRequest, EntryResult, Leg

if TYPE_CHECKING:
    from ledger.service import Ledger


def step_key(transfer: CrossShardTransfer, side: str, step: str) -> str:
    return f"xfer:{transfer.transfer_id}:{side}:{step}"


def _account(transfer: CrossShardTransfer, side: str) -> str:
    return transfer.source_account if side == "source" else transfer.destination_account


async def hold(ledger: Ledger, transfer: CrossShardTransfer, side: str) -> EntryResult:
    rq.amount(transfer.amount_minor)
    if side == "target":
        # Never hold the destination against a source that is missing or released.
        source = await _hold_id(ledger, transfer, "source")
        if source is None:
            raise UnknownEntry(f"transfer {transfer.transfer_id}: hold the source first")
        if await resolution(ledger, source) == "void_pending":
            raise _voided(transfer, "source", source)
    result = await _post_hold(ledger, transfer, side)
    if result.replayed and await resolution(ledger, result.entry_id) == "void_pending":
        raise _voided(transfer, side, result.entry_id)
    return result


async def _post_hold(ledger: Ledger, transfer: CrossShardTransfer, side: str) -> EntryResult:
    cur = rq.currency(transfer.currency)
    account = _account(transfer, side)
    shard = await ledger.shards.shard_of(account)
    clearing = await ledger.clearing_account(shard, cur)
    debit, credit = (account, clearing) if side == "source" else (clearing, account)
    metadata = {**transfer.metadata, "transfer_id": transfer.transfer_id, "transfer_side": side}
    return await ledger.post_entry(
        EntryRequest(
            idempotency_key=step_key(transfer, side, "hold"),
            legs=(
                Leg(debit, "debit", transfer.amount_minor, cur),
                Leg(credit, "credit", transfer.amount_minor, cur),
            ),
            pending=True,
            expires_at=transfer.expires_at,
            description=transfer.description,
            metadata=metadata,
        )
    )


def _voided(transfer: CrossShardTransfer, side: str, entry_id: str) -> AlreadyVoided:
    return AlreadyVoided(
        f"transfer {transfer.transfer_id} was voided by an earlier run ({side} hold {entry_id}"
        " released); it cannot be held or posted again: use a new transfer id"
    )


async def resolution(ledger: Ledger, pending_id: str) -> str | None:
    """How a pending entry was resolved: "post_pending", "void_pending", or None (still open)."""
    shard, local = parse_entry_ref(pending_id, ledger.shards.count)
    async with ledger.shards.connection(shard) as conn:
        cur = await conn.execute("SELECT kind FROM ledger_entries WHERE pending_id = %s", (local,))
        row = await cur.fetchone()
    return str(row[0]) if row else None


async def _hold_id(ledger: Ledger, transfer: CrossShardTransfer, side: str) -> str | None:
    """The side's hold entry, None when the account or the hold does not exist."""
    try:
        shard = await ledger.shards.shard_of(_account(transfer, side))
    except UnknownAccount:
        return None  # no such account, so nothing can have been held on it
    return await ledger.entry_for_key(shard, step_key(transfer, side, "hold"))


async def _settle_hold(
    ledger: Ledger, transfer: CrossShardTransfer, side: str, step: str
) -> EntryResult | None:
    """Post or void one side's hold; None when voiding a side that was never held."""
    pending = await _hold_id(ledger, transfer, side)
    if pending is None:
        if step == "void":
            return None  # nothing was held on this side: nothing to release
        raise UnknownEntry(f"transfer {transfer.transfer_id}: no {side} hold to post")
    key = step_key(transfer, side, step)
    if step == "post":
        return await ledger.post_pending(pending, key)
    return await ledger.void_pending(pending, key)


async def post_both(ledger: Ledger, transfer: CrossShardTransfer) -> CrossShardHolds:
    # A side already voided means the transfer was given up: release the other side's
    # hold (a rerun before this check existed could have made one) rather than post it.
    for side in ("source", "target"):
        held = await _hold_id(ledger, transfer, side)
        if held is not None and await resolution(ledger, held) == "void_pending":
            await _void_open(ledger, transfer)
            raise _voided(transfer, side, held)
    source = await _settle_hold(ledger, transfer, "source", "post")
    target = await _settle_hold(ledger, transfer, "target", "post")
    assert source is not None and target is not None  # "post" never answers None
    return CrossShardHolds(source, target)


async def _void_open(ledger: Ledger, transfer: CrossShardTransfer) -> None:
    """Void the holds of the transfer that are still pending (posted ones stay)."""
    for side in ("target", "source"):
        held = await _hold_id(ledger, transfer, side)
        if held is not None and await resolution(ledger, held) is None:
            await ledger.void_pending(held, step_key(transfer, side, "void"))


async def void_existing(ledger: Ledger, transfer: CrossShardTransfer) -> list[EntryResult]:
    results = []
    for side in ("target", "source"):
        result = await _settle_hold(ledger, transfer, side, "void")
        if result is not None:
            results.append(result)
    return results


async def begin(ledger: Ledger, transfer: CrossShardTransfer) -> CrossShardHolds:
    source = await hold(ledger, transfer, "source")
    try:
        target = await hold(ledger, transfer, "target")
    except LedgerError:
        await void_existing(ledger, transfer)
        raise
    return CrossShardHolds(source, target)
