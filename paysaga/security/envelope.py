"""Envelope encryption of one record: a fresh data key per record, wrapped by the KEK.

    data key (DEK)  = 32 random bytes, used once, for this record only
    ciphertext      = AES-GCM(DEK, nonce, plaintext, aad = kind + record id)
    wrapped_dek     = wrap_nonce || AES-GCM(KEK, wrap_nonce, DEK, aad = kek id + record id)

Binding the record id into both layers means a ciphertext or a wrapped key copied
onto another row fails authentication instead of decrypting. Rotating the KEK
re-wraps the 60-byte wrapped key and leaves the ciphertext untouched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from paysaga.security.errors import TamperedCiphertext
from paysaga.security.keyring import Keyring

NONCE_BYTES = 12
DEK_BYTES = 32
_DATA_AAD = b"paysaga/field/v1"
_WRAP_AAD = b"paysaga/dek/v1"


@dataclass(frozen=True)
class Envelope:
    kek_id: str
    wrapped_dek: bytes = field(repr=False)
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)


def _aad(prefix: bytes, *parts: str) -> bytes:
    # Length-prefixed parts, so ("ab", "c") and ("a", "bc") never collide.
    out = bytearray(prefix)
    for part in parts:
        raw = part.encode()
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def _wrap(keyring: Keyring, record_id: str, dek: bytes) -> tuple[str, bytes]:
    kek = keyring.current
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(kek.material).encrypt(nonce, dek, _aad(_WRAP_AAD, kek.key_id, record_id))
    return kek.key_id, nonce + sealed


def _unwrap(keyring: Keyring, record_id: str, kek_id: str, wrapped: bytes) -> bytes:
    kek = keyring.get(kek_id)  # UnknownEncryptionKey if the KEK was retired too early
    try:
        dek = AESGCM(kek.material).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _aad(_WRAP_AAD, kek_id, record_id)
        )
    except InvalidTag:
        raise TamperedCiphertext(
            f"wrapped data key of record {record_id!r} failed authentication"
        ) from None
    if len(dek) != DEK_BYTES:
        raise TamperedCiphertext(f"wrapped data key of record {record_id!r} is malformed")
    return dek


def seal(keyring: Keyring, record_id: str, kind: str, plaintext: bytes) -> Envelope:
    dek = AESGCM.generate_key(bit_length=DEK_BYTES * 8)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(dek).encrypt(nonce, plaintext, _aad(_DATA_AAD, kind, record_id))
    kek_id, wrapped = _wrap(keyring, record_id, dek)
    return Envelope(kek_id=kek_id, wrapped_dek=wrapped, nonce=nonce, ciphertext=ciphertext)


def open_envelope(keyring: Keyring, record_id: str, kind: str, envelope: Envelope) -> bytes:
    dek = _unwrap(keyring, record_id, envelope.kek_id, envelope.wrapped_dek)
    try:
        return AESGCM(dek).decrypt(
            envelope.nonce, envelope.ciphertext, _aad(_DATA_AAD, kind, record_id)
        )
    except InvalidTag:
        raise TamperedCiphertext(
            f"record {record_id!r} failed authentication: modified, or moved from another record"
        ) from None


def rewrap(keyring: Keyring, record_id: str, envelope: Envelope) -> Envelope:
    """The same ciphertext with its data key wrapped under the keyring's current KEK."""
    dek = _unwrap(keyring, record_id, envelope.kek_id, envelope.wrapped_dek)
    kek_id, wrapped = _wrap(keyring, record_id, dek)
    return Envelope(
        kek_id=kek_id, wrapped_dek=wrapped, nonce=envelope.nonce, ciphertext=envelope.ciphertext
    )
