"""Secrets at rest in PostgreSQL (table field_secrets, Alembic branch "security").

Plaid access tokens, bank account details and gateway tokens go through here and
are stored only as envelopes (security.envelope). Card numbers never do: we keep
gateway tokens, not PANs. The store lives on shard 0.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from paysaga.security.envelope import Envelope, open_envelope, rewrap, seal
from paysaga.security.errors import SecretNotFound
from paysaga.security.keyring import Keyring

log = structlog.get_logger()


class SecretKind(StrEnum):
    """What the product stores (names of kinds, not secrets); other kinds are allowed."""

    PLAID_ACCESS_TOKEN = "plaid_access_token"  # noqa: S105
    BANK_ACCOUNT = "bank_account"
    GATEWAY_TOKEN = "gateway_token"  # noqa: S105


_UPSERT = """
INSERT INTO field_secrets (record_id, kind, kek_id, wrapped_dek, nonce, ciphertext)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (record_id) DO UPDATE SET
    kind = EXCLUDED.kind, kek_id = EXCLUDED.kek_id, wrapped_dek = EXCLUDED.wrapped_dek,
    nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext, rotated_at = NULL
"""
_SELECT = (
    "SELECT kind, kek_id, wrapped_dek, nonce, ciphertext FROM field_secrets WHERE record_id = %s"
)


class SecretStore:
    """put/get envelope-encrypted secrets by record id; rewrap_all after a KEK rotation."""

    def __init__(self, database: str | AsyncConnectionPool[Any], keyring: Keyring) -> None:
        self._database = database
        self.keyring = keyring

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if isinstance(self._database, str):
            async with await psycopg.AsyncConnection.connect(self._database) as conn:
                yield conn
        else:
            async with self._database.connection() as conn:
                yield conn

    async def put(self, record_id: str, kind: str, plaintext: bytes | str) -> None:
        """Encrypt and store; writing the same record id again replaces it (fresh data key)."""
        raw = plaintext.encode() if isinstance(plaintext, str) else plaintext
        env = seal(self.keyring, record_id, kind, raw)
        async with self._connection() as conn:
            await conn.execute(
                _UPSERT, (record_id, kind, env.kek_id, env.wrapped_dek, env.nonce, env.ciphertext)
            )
        log.info("secret.stored", record_id=record_id, kind=kind, key_id=env.kek_id)

    async def get(self, record_id: str) -> bytes:
        async with self._connection() as conn:
            row = await (await conn.execute(_SELECT, (record_id,))).fetchone()
        if row is None:
            raise SecretNotFound(f"no secret stored under {record_id!r}")
        kind, kek_id, wrapped, nonce, ciphertext = row
        return open_envelope(
            self.keyring,
            record_id,
            kind,
            Envelope(kek_id, bytes(wrapped), bytes(nonce), bytes(ciphertext)),
        )

    async def get_text(self, record_id: str) -> str:
        return (await self.get(record_id)).decode()

    async def delete(self, record_id: str) -> bool:
        async with self._connection() as conn:
            cur = await conn.execute("DELETE FROM field_secrets WHERE record_id = %s", (record_id,))
        return cur.rowcount > 0

    async def rewrap_all(self, batch: int = 500) -> int:
        """Re-wrap every data key not under the current KEK; ciphertexts are not touched.

        Each batch is one transaction with row locks (SKIP LOCKED lets two operators'
        runs share the work). Returns how many records were re-wrapped.
        """
        current = self.keyring.current.key_id
        total = 0
        while True:
            async with self._connection() as conn, conn.transaction():
                rows = await (
                    await conn.execute(
                        "SELECT record_id, kek_id, wrapped_dek FROM field_secrets "
                        "WHERE kek_id <> %s ORDER BY record_id LIMIT %s FOR UPDATE SKIP LOCKED",
                        (current, batch),
                    )
                ).fetchall()
                for record_id, kek_id, wrapped in rows:
                    # Only the wrapped key is read and rewritten; nonce/ciphertext stay.
                    new = rewrap(
                        self.keyring, record_id, Envelope(kek_id, bytes(wrapped), b"", b"")
                    )
                    await conn.execute(
                        "UPDATE field_secrets SET kek_id = %s, wrapped_dek = %s, "
                        "rotated_at = now() WHERE record_id = %s",
                        (new.kek_id, new.wrapped_dek, record_id),
                    )
            total += len(rows)
            if len(rows) < batch:
                break
        log.info("secret.rewrapped", count=total, key_id=current)
        return total

    async def count_by_key(self) -> dict[str, int]:
        async with self._connection() as conn:
            rows = await (
                await conn.execute("SELECT kek_id, count(*) FROM field_secrets GROUP BY kek_id")
            ).fetchall()
        return {kek_id: int(n) for kek_id, n in rows}
