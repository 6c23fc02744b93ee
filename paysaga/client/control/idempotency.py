"""Idempotency records: (merchant, scope, key) -> hash of the first body + what it created.

Claiming is one INSERT ... ON CONFLICT DO NOTHING, so two concurrent requests with
the same key agree on one winner; the loser reads the winner's row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from paysaga.client.control.schema import IdempotencyRecord
from paysaga.client.errors import IdempotencyConflict


def body_hash(body: Any) -> str:
    """Stable hash of a JSON-able body (key order does not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    resource_id: str
    replay: bool  # True: this key was used before with the same body


class IdempotencyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(
        self, merchant_id: str, scope: str, key: str, digest: str, resource_id: str
    ) -> Claim:
        """Record the key, or return the earlier record; a different body is a conflict."""
        async with self._engine.begin() as conn:
            inserted = (
                await conn.execute(
                    insert(IdempotencyRecord)
                    .values(
                        merchant_id=merchant_id,
                        scope=scope,
                        idempotency_key=key,
                        body_hash=digest,
                        resource_id=resource_id,
                    )
                    .on_conflict_do_nothing()
                    .returning(IdempotencyRecord.resource_id)
                )
            ).first()
            if inserted is not None:
                return Claim(resource_id, replay=False)
            existing = (
                await conn.execute(
                    select(IdempotencyRecord.body_hash, IdempotencyRecord.resource_id).where(
                        IdempotencyRecord.merchant_id == merchant_id,
                        IdempotencyRecord.scope == scope,
                        IdempotencyRecord.idempotency_key == key,
                    )
                )
            ).one()
        if existing.body_hash != digest:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different request body",
                field="Idempotency-Key",
            )
        return Claim(existing.resource_id, replay=True)
