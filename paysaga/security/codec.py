"""AES-256-GCM payload codec: every Temporal payload leaves the process encrypted.

The whole original Payload (metadata + data) is serialized and encrypted, so the
server sees neither the value nor its encoding. The key id travels in clear in
the metadata so any process holding that key can decrypt, which is what lets
keys rotate under running workflows. The key id is also bound as associated
data: relabelling a ciphertext with another key id fails authentication.

Search attributes are not passed through codecs by Temporal; the ones we set
(PaymentStatus, AmountMinor, CustomerId, ...) stay visible on purpose, for
support queries, and CustomerId is a pseudonymous id, never a name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from paysaga.security.errors import TamperedCiphertext
from paysaga.security.keyring import Keyring

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12  # 96-bit nonce, the GCM standard size; random per payload
_AAD_PREFIX = b"paysaga/payload/v1:"


def _aad(key_id: str) -> bytes:
    return _AAD_PREFIX + key_id.encode()


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCODING


def encrypt_payload(keyring: Keyring, payload: Payload) -> Payload:
    key = keyring.current
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key.material).encrypt(nonce, payload.SerializeToString(), _aad(key.key_id))
    return Payload(
        metadata={"encoding": ENCODING, KEY_ID_METADATA: key.key_id.encode()},
        data=nonce + sealed,
    )


def decrypt_payload(keyring: Keyring, payload: Payload) -> Payload:
    """Decrypt one payload; raises, never returns garbage, on any mismatch."""
    raw_id = payload.metadata.get(KEY_ID_METADATA)
    if raw_id is None:
        raise TamperedCiphertext("encrypted payload has no encryption-key-id metadata")
    try:
        key_id = raw_id.decode()
    except UnicodeDecodeError:
        raise TamperedCiphertext("encrypted payload has a malformed key id") from None
    key = keyring.get(key_id)  # UnknownEncryptionKey if not configured
    data = payload.data
    if len(data) < NONCE_BYTES + 16:
        raise TamperedCiphertext("encrypted payload is truncated")
    try:
        plain = AESGCM(key.material).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _aad(key_id))
    except InvalidTag:
        raise TamperedCiphertext(
            f"encrypted payload failed authentication under key {key_id!r}: "
            "it was modified or relabelled"
        ) from None
    inner = Payload()
    inner.ParseFromString(plain)
    return inner


class EncryptionCodec(PayloadCodec):
    """Encrypts with the keyring's current key; decrypts with whichever key the payload names."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [encrypt_payload(self.keyring, p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        # Payloads not marked encrypted pass through (e.g. written before encryption
        # was switched on, or by tools that don't encode).
        return [decrypt_payload(self.keyring, p) if is_encrypted(p) else p for p in payloads]
