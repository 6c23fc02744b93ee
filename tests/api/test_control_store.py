"""The control tables on real PostgreSQL: idempotency claims and webhook events."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from paysaga.client.control.idempotency import IdempotencyStore, body_hash
from paysaga.client.control.webhook_events import WebhookEventStore
from paysaga.client.errors import IdempotencyConflict
from paysaga.client.ids import new_merchant_id


async def _merchant(engine: AsyncEngine) -> str:
    merchant_id = new_merchant_id()
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO merchants (id, name) VALUES (:id, 'test')"), {"id": merchant_id}
        )
    return merchant_id


async def test_idempotency_claim_replay_and_conflict(control_db: AsyncEngine) -> None:
    store = IdempotencyStore(control_db)
    merchant = await _merchant(control_db)
    key = uuid.uuid4().hex
    first = await store.claim(merchant, "payment", key, body_hash({"a": 1, "b": 2}), "p1")
    again = await store.claim(merchant, "payment", key, body_hash({"b": 2, "a": 1}), "p2")
    assert (first.replay, again.replay) == (False, True)
    assert again.resource_id == "p1"  # the first one wins
    with pytest.raises(IdempotencyConflict):
        await store.claim(merchant, "payment", key, body_hash({"a": 2}), "p3")
    other = await _merchant(control_db)  # another merchant may use the same key
    assert not (await store.claim(other, "payment", key, body_hash({"a": 2}), "p4")).replay


async def test_concurrent_claims_have_one_winner(control_db: AsyncEngine) -> None:
    store = IdempotencyStore(control_db)
    merchant = await _merchant(control_db)
    key = uuid.uuid4().hex
    claims = await asyncio.gather(
        *(store.claim(merchant, "payment", key, "h" * 64, f"p{i}") for i in range(8))
    )
    assert sum(not claim.replay for claim in claims) == 1
    assert len({claim.resource_id for claim in claims}) == 1


async def test_webhook_event_recorded_once(control_db: AsyncEngine) -> None:
    store = WebhookEventStore(control_db)
    event_id = f"evt_{uuid.uuid4().hex}"
    first = await store.record("stripe", event_id, "payment_intent.succeeded", "h" * 64, "wf")
    again = await store.record("stripe", event_id, "payment_intent.succeeded", "h" * 64, "wf")
    assert first.first_time and not again.first_time and not again.delivered
    await store.mark_delivered("stripe", event_id)
    assert (await store.record("stripe", event_id, "x", "h" * 64, None)).delivered
    row = await store.get("stripe", event_id)
    assert row is not None and row.delivered_at is not None and row.event_type != "x"
    # The same id from another provider is another event.
    assert (await store.record("plaid", event_id, "ITEM", "h" * 64, None)).first_time
