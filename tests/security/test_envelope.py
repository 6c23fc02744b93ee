"""Envelope encryption (pure) and the PostgreSQL secret store (real embedded server)."""

from __future__ import annotations

import dataclasses

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from ledger.migrate import upgrade
from paysaga.security.envelope import Envelope, open_envelope, rewrap, seal
from paysaga.security.errors import SecretNotFound, TamperedCiphertext, UnknownEncryptionKey
from paysaga.security.keyring import Keyring
from paysaga.security.secret_store import SecretKind, SecretStore

PLAID = b"access-sandbox-7f1c2e9a-aaaa-bbbb-cccc-0123456789ab"


def _flip(raw: bytes, index: int) -> bytes:
    out = bytearray(raw)
    out[index] ^= 0x01
    return bytes(out)


# ------------------------------------------------------------------ envelope (pure)
def test_envelope_round_trip_and_fresh_data_key_per_record(keyring1: Keyring) -> None:
    a = seal(keyring1, "rec-1", "plaid_access_token", PLAID)
    b = seal(keyring1, "rec-1", "plaid_access_token", PLAID)
    assert a.kek_id == "k1" and PLAID not in a.ciphertext
    assert a.wrapped_dek != b.wrapped_dek and a.ciphertext != b.ciphertext
    assert open_envelope(keyring1, "rec-1", "plaid_access_token", a) == PLAID
    assert PLAID.hex() not in repr(a)


@pytest.mark.parametrize("column", ["wrapped_dek", "nonce", "ciphertext"])
def test_flipped_byte_in_any_column_is_detected(keyring1: Keyring, column: str) -> None:
    env = seal(keyring1, "rec-1", "bank_account", b"DE89370400440532013000")
    value: bytes = getattr(env, column)
    changes: dict[str, object] = {column: _flip(value, len(value) // 2)}
    tampered = dataclasses.replace(env, **changes)  # type: ignore[arg-type]
    with pytest.raises(TamperedCiphertext):
        open_envelope(keyring1, "rec-1", "bank_account", tampered)


def test_envelope_bound_to_record_id_and_kind(keyring1: Keyring) -> None:
    env = seal(keyring1, "rec-1", "gateway_token", b"pm_123")
    with pytest.raises(TamperedCiphertext):
        open_envelope(keyring1, "rec-2", "gateway_token", env)
    with pytest.raises(TamperedCiphertext):
        open_envelope(keyring1, "rec-1", "bank_account", env)
    # Data of rec-1 with the (valid) wrapped key of rec-2: still refused.
    other = seal(keyring1, "rec-2", "gateway_token", b"pm_456")
    with pytest.raises(TamperedCiphertext):
        open_envelope(
            keyring1,
            "rec-2",
            "gateway_token",
            dataclasses.replace(other, nonce=env.nonce, ciphertext=env.ciphertext),
        )


def test_rewrap_keeps_ciphertext_and_reads_with_new_kek_only(key1, key2) -> None:
    env = seal(Keyring([key1]), "rec-1", "gateway_token", b"pm_123")
    moved = rewrap(Keyring([key2, key1]), "rec-1", env)
    assert moved.kek_id == "k2"
    assert (moved.nonce, moved.ciphertext) == (env.nonce, env.ciphertext)
    assert moved.wrapped_dek != env.wrapped_dek
    assert open_envelope(Keyring([key2]), "rec-1", "gateway_token", moved) == b"pm_123"
    with pytest.raises(UnknownEncryptionKey):
        open_envelope(Keyring([key2]), "rec-1", "gateway_token", env)


# ------------------------------------------------------------------ store (PostgreSQL)
@pytest.fixture
def secrets_db(fresh_database: str) -> str:
    upgrade(fresh_database, "security@head")  # the real Alembic migration of our branch
    return fresh_database


async def _row(dsn: str, record_id: str) -> tuple[str, bytes, bytes, bytes, object]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        row = await (
            await conn.execute(
                "SELECT kek_id, wrapped_dek, nonce, ciphertext, rotated_at "
                "FROM field_secrets WHERE record_id = %s",
                (record_id,),
            )
        ).fetchone()
    assert row is not None
    return row[0], bytes(row[1]), bytes(row[2]), bytes(row[3]), row[4]


async def _sql(dsn: str, statement: str, *params: object) -> None:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await conn.execute(statement, params)


async def test_store_round_trip_upsert_and_missing(secrets_db: str, keyring1: Keyring) -> None:
    store = SecretStore(secrets_db, keyring1)
    await store.put("plaid:item-1", SecretKind.PLAID_ACCESS_TOKEN, PLAID)
    assert await store.get("plaid:item-1") == PLAID
    await store.put("plaid:item-1", SecretKind.PLAID_ACCESS_TOKEN, "access-sandbox-rotated")
    assert await store.get_text("plaid:item-1") == "access-sandbox-rotated"
    with pytest.raises(SecretNotFound) as info:
        await store.get("plaid:nope")
    assert info.value.code == "secret_not_found"
    async with await psycopg.AsyncConnection.connect(secrets_db) as conn:
        dump = await (await conn.execute("SELECT f::text FROM field_secrets f")).fetchall()
    assert b"rotated" not in str(dump).encode() and b"access-sandbox" not in str(dump).encode()
    assert await store.delete("plaid:item-1")
    with pytest.raises(SecretNotFound):
        await store.get("plaid:item-1")


async def test_store_detects_tampered_and_swapped_rows(secrets_db: str, keyring1: Keyring) -> None:
    async with AsyncConnectionPool(secrets_db, min_size=1, max_size=2, open=False) as pool:
        store = SecretStore(pool, keyring1)
        await store.put("bank:1", SecretKind.BANK_ACCOUNT, b"acct=000123456789;routing=110000000")
        await store.put("bank:2", SecretKind.BANK_ACCOUNT, b"acct=000987654321;routing=110000000")
        await _sql(
            secrets_db,
            "UPDATE field_secrets SET ciphertext = set_byte(ciphertext, 5, "
            "get_byte(ciphertext, 5) # 1) WHERE record_id = 'bank:1'",
        )
        with pytest.raises(TamperedCiphertext, match="bank:1"):
            await store.get("bank:1")
        # Moving record 2's whole envelope onto another id is detected (record id is AAD).
        await _sql(
            secrets_db,
            "INSERT INTO field_secrets (record_id, kind, kek_id, wrapped_dek, nonce, ciphertext) "
            "SELECT 'bank:3', kind, kek_id, wrapped_dek, nonce, ciphertext "
            "FROM field_secrets WHERE record_id = 'bank:2'",
        )
        with pytest.raises(TamperedCiphertext):
            await store.get("bank:3")
        assert (await store.get("bank:2")).startswith(b"acct=000987654321")


async def test_rewrap_all_after_kek_rotation(secrets_db: str, key1, key2) -> None:
    old = SecretStore(secrets_db, Keyring([key1]))
    values = {f"gw:{i}": f"pm_card_token_{i}".encode() for i in range(5)}
    for record_id, value in values.items():
        await old.put(record_id, SecretKind.GATEWAY_TOKEN, value)
    before = {rid: await _row(secrets_db, rid) for rid in values}

    rotated = SecretStore(secrets_db, Keyring([key2, key1]))
    assert await rotated.rewrap_all(batch=2) == 5  # several batches
    assert await rotated.rewrap_all() == 0  # idempotent
    assert await rotated.count_by_key() == {"k2": 5}
    for rid in values:
        kek_id, wrapped, nonce, ciphertext, rotated_at = await _row(secrets_db, rid)
        assert kek_id == "k2" and rotated_at is not None
        assert (nonce, ciphertext) == before[rid][2:4]  # data untouched
        assert wrapped != before[rid][1]

    only_new = SecretStore(secrets_db, Keyring([key2]))
    assert {rid: await only_new.get(rid) for rid in values} == values
    with pytest.raises(UnknownEncryptionKey):
        await old.get("gw:0")


def test_envelope_repr_hides_material(keyring1: Keyring) -> None:
    env = seal(keyring1, "r", "k", b"secret-value")
    assert repr(env) == "Envelope(kek_id='k1')"
    assert isinstance(env, Envelope)


async def test_store_logs_carry_ids_never_values(secrets_db: str, key1, key2) -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        await SecretStore(secrets_db, Keyring([key1])).put("plaid:log", "plaid_access_token", PLAID)
        store = SecretStore(secrets_db, Keyring([key2, key1]))
        await store.rewrap_all()
        assert await store.get("plaid:log") == PLAID
    assert {entry["event"] for entry in logs} >= {"secret.stored", "secret.rewrapped"}
    text = repr(logs)
    assert PLAID.decode() not in text and "plaid:log" in text
