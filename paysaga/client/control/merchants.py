"""Merchants and their API keys (stored hashed), on the control database."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from paysaga.client.control.schema import ApiKey, Merchant
from paysaga.client.ids import MERCHANT_ID_RE, check, new_merchant_id
from paysaga.domain.errors import NotFound, ValidationError
from paysaga.domain.pan import refuse_pan
from paysaga.security import api_keys

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class IssuedKey:
    merchant_id: str
    key_id: str
    api_key: str  # the plaintext: shown once, never stored


class MerchantStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def create_merchant(self, name: str) -> IssuedKey:
        """A new merchant and its first API key."""
        name = name.strip()
        if not name or len(name) > 200:
            raise ValidationError("merchant name must be 1..200 characters", field="name")
        refuse_pan(name, "name")
        merchant_id = new_merchant_id()
        async with self._sessions.begin() as session:
            session.add(Merchant(id=merchant_id, name=name))
        issued = await self.issue_key(merchant_id)
        log.info("merchant.created", merchant_id=merchant_id)
        return issued

    async def issue_key(self, merchant_id: str) -> IssuedKey:
        check(MERCHANT_ID_RE, merchant_id, "merchant_id", "merchant id")
        generated = api_keys.generate_api_key()
        async with self._sessions.begin() as session:
            if await session.get(Merchant, merchant_id) is None:
                raise NotFound(f"no merchant {merchant_id}", field="merchant_id")
            session.add(
                ApiKey(id=generated.key_id, merchant_id=merchant_id, key_hash=generated.key_hash)
            )
        log.info("api_key.issued", merchant_id=merchant_id, key_id=generated.key_id)
        return IssuedKey(merchant_id, generated.key_id, generated.plaintext)

    async def authenticate(self, presented: str) -> str | None:
        """The merchant id a presented key belongs to, or None (constant-time compare)."""
        key_id = api_keys.key_id_of(presented)
        if key_id is None:
            return None
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(ApiKey.key_hash, ApiKey.merchant_id).where(
                        ApiKey.id == key_id, ApiKey.revoked_at.is_(None)
                    )
                )
            ).first()
        if row is None:
            # Spend the same time as a real verify so timing does not reveal key ids.
            api_keys.verify_api_key(presented, api_keys.DUMMY_HASH)
            return None
        return row.merchant_id if api_keys.verify_api_key(presented, row.key_hash) else None

    async def merchant_name(self, merchant_id: str) -> str | None:
        async with self._sessions() as session:
            merchant = await session.get(Merchant, merchant_id)
        return merchant.name if merchant else None
