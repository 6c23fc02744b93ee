"""Merchants and their API keys (stored hashed, see control.keys), on the control database."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from paysaga.client.control.keys import MERCHANT, ApiKeyStore
from paysaga.client.control.schema import Merchant
from paysaga.client.ids import new_merchant_id
from paysaga.domain.errors import ValidationError
from paysaga.domain.pan import refuse_pan

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class IssuedKey:
    merchant_id: str
    key_id: str
    api_key: str  # the plaintext: shown once, never stored


class MerchantStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._keys = ApiKeyStore(engine)

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
        issued = await self._keys.issue(merchant_id=merchant_id)
        return IssuedKey(merchant_id, issued.key_id, issued.api_key)

    async def authenticate(self, presented: str) -> str | None:
        """The merchant id a presented merchant key belongs to, or None (operator keys too)."""
        principal = await self._keys.authenticate(presented)
        return principal.merchant_id if principal and principal.scope == MERCHANT else None

    async def merchant_name(self, merchant_id: str) -> str | None:
        async with self._sessions() as session:
            merchant = await session.get(Merchant, merchant_id)
        return merchant.name if merchant else None
