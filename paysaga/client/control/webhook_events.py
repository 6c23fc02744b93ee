"""Webhook events recorded once by (provider, event id); delivery is marked afterwards."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from paysaga.client.control.schema import WebhookEvent


@dataclass(frozen=True)
class Recorded:
    first_time: bool
    delivered: bool


class WebhookEventStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(
        self,
        provider: str,
        event_id: str,
        event_type: str,
        payload_hash: str,
        workflow_id: str | None,
    ) -> Recorded:
        async with self._engine.begin() as conn:
            inserted = (
                await conn.execute(
                    insert(WebhookEvent)
                    .values(
                        provider=provider,
                        event_id=event_id,
                        event_type=event_type,
                        payload_hash=payload_hash,
                        workflow_id=workflow_id,
                    )
                    .on_conflict_do_nothing(constraint="uq_webhook_events_event")
                    .returning(WebhookEvent.id)
                )
            ).first()
            if inserted is not None:
                return Recorded(first_time=True, delivered=False)
            delivered_at = (
                await conn.execute(
                    select(WebhookEvent.delivered_at).where(
                        WebhookEvent.provider == provider, WebhookEvent.event_id == event_id
                    )
                )
            ).scalar_one()
        return Recorded(first_time=False, delivered=delivered_at is not None)

    async def mark_delivered(self, provider: str, event_id: str) -> None:
        await self._set(provider, event_id, delivered_at=func.now(), delivery_error=None)

    async def mark_undeliverable(self, provider: str, event_id: str, reason: str) -> None:
        await self._set(provider, event_id, delivery_error=reason[:1000])

    async def _set(self, provider: str, event_id: str, **values: object) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(WebhookEvent)
                .where(WebhookEvent.provider == provider, WebhookEvent.event_id == event_id)
                .values(**values)
            )

    async def get(self, provider: str, event_id: str) -> WebhookEvent | None:
        async with AsyncSession(self._engine, expire_on_commit=False) as session:
            found: WebhookEvent | None = (
                await session.execute(
                    select(WebhookEvent).where(
                        WebhookEvent.provider == provider, WebhookEvent.event_id == event_id
                    )
                )
            ).scalar_one_or_none()
        return found
