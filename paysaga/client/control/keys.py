"""API keys on the control database: issue, list, revoke, authenticate.

A key has a scope. A `merchant` key acts for its merchant (payments, onboardings, its
own ledger accounts); an `operator` key belongs to no merchant and is the only one that
may start platform-wide operations (reconciliation). Only the keyed hash of a key is
stored (security.api_keys); revocation takes effect on the next request, as every
request looks its key up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from paysaga.client.control.schema import ApiKey, Merchant
from paysaga.client.ids import MERCHANT_ID_RE, check
from paysaga.domain.errors import NotFound, ValidationError
from paysaga.security import api_keys

log = structlog.get_logger(__name__)

Scope = Literal["merchant", "operator"]
MERCHANT: Final = "merchant"
OPERATOR: Final = "operator"
KEY_ID_RE: Final = re.compile(r"^psk_(?:test|live)_[0-9a-f]{16}$")


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"


@dataclass(frozen=True)
class Principal:
    """Who a request authenticated as."""

    key_id: str
    scope: Scope
    merchant_id: str | None  # None for operator keys


@dataclass(frozen=True)
class IssuedApiKey:
    key_id: str
    api_key: str  # the plaintext: shown once, never stored or logged
    scope: Scope
    merchant_id: str | None


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    scope: Scope
    merchant_id: str | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


def _scope(value: str) -> Scope:
    return OPERATOR if value == OPERATOR else MERCHANT


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        row.id, _scope(row.scope), row.merchant_id, row.label, row.created_at, row.revoked_at
    )


class ApiKeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def issue(
        self,
        *,
        merchant_id: str | None = None,
        operator: bool = False,
        label: str | None = None,
        live: bool = False,
    ) -> IssuedApiKey:
        """A new key: for `merchant_id`, or (operator=True) an operator key for no merchant."""
        if operator == (merchant_id is not None):
            raise ValidationError(
                "give either a merchant id or operator, not both", field="merchant_id"
            )
        if merchant_id is not None:
            check(MERCHANT_ID_RE, merchant_id, "merchant_id", "merchant id")
        if label is not None and not 1 <= len(label.strip()) <= 200:
            raise ValidationError("label must be 1..200 characters", field="label")
        scope: Scope = OPERATOR if operator else MERCHANT
        generated = api_keys.generate_api_key(live=live)
        async with self._sessions.begin() as session:
            if merchant_id is not None and await session.get(Merchant, merchant_id) is None:
                raise NotFound(f"no merchant {merchant_id}", field="merchant_id")
            session.add(
                ApiKey(
                    id=generated.key_id,
                    merchant_id=merchant_id,
                    scope=scope,
                    label=label.strip() if label else None,
                    key_hash=generated.key_hash,
                )
            )
        log.info("api_key.issued", key_id=generated.key_id, scope=scope, merchant_id=merchant_id)
        return IssuedApiKey(generated.key_id, generated.plaintext, scope, merchant_id)

    async def list(
        self, *, merchant_id: str | None = None, include_revoked: bool = False
    ) -> list[KeyInfo]:
        query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
        if merchant_id is not None:
            check(MERCHANT_ID_RE, merchant_id, "merchant_id", "merchant id")
            query = query.where(ApiKey.merchant_id == merchant_id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        async with self._sessions() as session:
            rows = (await session.execute(query)).scalars().all()
        return [_info(row) for row in rows]

    async def revoke(self, key_id: str) -> KeyInfo:
        """Revoke a key (its next request gets 401); revoking twice keeps the first time."""
        check(KEY_ID_RE, key_id, "key_id", "API key id (psk_test_... or psk_live_...)")
        async with self._sessions.begin() as session:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=func.now())
            )
            row = await session.get(ApiKey, key_id)
            if row is None:
                raise ApiKeyNotFound(f"no API key {key_id}", field="key_id")
            info = _info(row)
        log.info("api_key.revoked", key_id=key_id, scope=info.scope, merchant_id=info.merchant_id)
        return info

    async def authenticate(self, presented: str) -> Principal | None:
        """Who a presented key belongs to, or None (constant-time compare)."""
        key_id = api_keys.key_id_of(presented)
        if key_id is None:
            return None
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(ApiKey.key_hash, ApiKey.merchant_id, ApiKey.scope).where(
                        ApiKey.id == key_id, ApiKey.revoked_at.is_(None)
                    )
                )
            ).first()
        if row is None:
            # Spend the same time as a real verify so timing does not reveal key ids.
            api_keys.verify_api_key(presented, api_keys.DUMMY_HASH)
            return None
        if not api_keys.verify_api_key(presented, row.key_hash):
            return None
        return Principal(key_id, _scope(row.scope), row.merchant_id)
