"""A transfer between accounts on two shards, as saga steps over per-shard clearing accounts.

Each shard's books balance on their own: the source shard holds a debit of the source
against its clearing account, the destination shard a credit from its own. Every step
has an idempotency key derived from the transfer id and step, so the workflow
(workflows/transfer.py) may repeat any of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger import requests as rq
from ledger.errors import LedgerError, UnknownAccount, UnknownEntry
from ledger.types import CrossShardHolds, CrossShardTransfer, EntryRequest, EntryResult, Leg

if TYPE_CHECKING:
    from ledger.service import Ledger


def step_key(transfer: CrossShardTransfer, side: str, step: str) -> str:
    return f"xfer:{transfer.transfer_id}:{side}:{step}"


def _account(transfer: CrossShardTransfer, side: str) -> str:
    return transfer.source_account if side == "source" else transfer.destination_account


async def hold(ledger: Ledger, transfer: CrossShardTransfer, side: str) -> EntryResult:
    rq.amount(transfer.amount_minor)
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


async def _settle_hold(
    ledger: Ledger, transfer: CrossShardTransfer, side: str, step: str
) -> EntryResult | None:
    """Post or void one side's hold; None when voiding a side that was never held."""
    try:
        shard = await ledger.shards.shard_of(_account(transfer, side))
    except UnknownAccount:
        if step == "void":
            return None  # no such account, so nothing can have been held on it
        raise
    pending = await ledger.entry_for_key(shard, step_key(transfer, side, "hold"))
    if pending is None:
        if step == "void":
            return None  # nothing was held on this side: nothing to release
        raise UnknownEntry(f"transfer {transfer.transfer_id}: no {side} hold to post")
    key = step_key(transfer, side, step)
    if step == "post":
        return await ledger.post_pending(pending, key)
    return await ledger.void_pending(pending, key)


async def post_both(ledger: Ledger, transfer: CrossShardTransfer) -> CrossShardHolds:
    source = await _settle_hold(ledger, transfer, "source", "post")
    target = await _settle_hold(ledger, transfer, "target", "post")
    assert source is not None and target is not None  # "post" never answers None
    return CrossShardHolds(source, target)


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
