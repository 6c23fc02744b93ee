"""EncryptionCodec: round trip, key rotation at the payload level, tamper detection."""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from paysaga.config.settings import load_settings
from paysaga.config.temporal import connect_client, data_converter
from paysaga.domain.errors import ConfigurationError
from paysaga.security.codec import ENCODING, KEY_ID_METADATA, EncryptionCodec
from paysaga.security.errors import KeyringError, TamperedCiphertext, UnknownEncryptionKey
from paysaga.security.keyring import Keyring
from tests.security.conftest import settings_with

SECRET_INPUT = {"amount_minor": 987654, "customer_id": "cus_Zq8distinct", "token": "tok_secret42"}


def _plain(value: object) -> Payload:
    return DataConverter.default.payload_converter.to_payloads([value])[0]


async def test_round_trip_hides_value_and_encoding(keyring1: Keyring) -> None:
    codec = EncryptionCodec(keyring1)
    plain = _plain(SECRET_INPUT)
    [sealed] = await codec.encode([plain])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"k1"
    assert b"json/plain" not in sealed.SerializeToString()
    for needle in (b"987654", b"cus_Zq8distinct", b"tok_secret42"):
        assert needle not in sealed.data
    [opened] = await codec.decode([sealed])
    assert opened == plain


async def test_nonce_is_random_per_payload(keyring1: Keyring) -> None:
    codec = EncryptionCodec(keyring1)
    a, b = await codec.encode([_plain("same"), _plain("same")])
    assert a.data != b.data


async def test_unencrypted_payload_passes_through(keyring1: Keyring) -> None:
    plain = _plain("hello")
    assert await EncryptionCodec(keyring1).decode([plain]) == [plain]


async def test_rotation_newest_encrypts_all_decrypt(key1, key2) -> None:
    old = EncryptionCodec(Keyring([key1]))
    rotated = EncryptionCodec(Keyring([key2, key1]))
    [under_k1] = await old.encode([_plain(SECRET_INPUT)])
    [under_k2] = await rotated.encode([_plain(SECRET_INPUT)])
    assert under_k2.metadata[KEY_ID_METADATA] == b"k2"
    assert await rotated.decode([under_k1]) == [_plain(SECRET_INPUT)]
    with pytest.raises(UnknownEncryptionKey, match="k1"):
        await EncryptionCodec(Keyring([key2])).decode([under_k1])


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag"])
async def test_flipped_byte_is_detected(keyring1: Keyring, where: str) -> None:
    codec = EncryptionCodec(keyring1)
    [sealed] = await codec.encode([_plain(SECRET_INPUT)])
    data = bytearray(sealed.data)
    index = {"nonce": 3, "ciphertext": 20, "tag": len(data) - 1}[where]
    data[index] ^= 0x01
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(data))
    with pytest.raises(TamperedCiphertext, match="failed authentication") as info:
        await codec.decode([tampered])
    assert info.value.code == "ciphertext_tampered"


async def test_relabelled_key_id_is_detected(key1, key2) -> None:
    codec = EncryptionCodec(Keyring([key1, key2]))
    [sealed] = await codec.encode([_plain(SECRET_INPUT)])
    relabelled = Payload(
        metadata={**sealed.metadata, KEY_ID_METADATA: b"k2"},
        data=sealed.data,
    )
    with pytest.raises(TamperedCiphertext):
        await codec.decode([relabelled])
    unknown = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"k9"}, data=sealed.data)
    with pytest.raises(UnknownEncryptionKey) as info:
        await codec.decode([unknown])
    assert info.value.code == "encryption_key_unknown"


async def test_truncated_payload_is_detected(keyring1: Keyring) -> None:
    codec = EncryptionCodec(keyring1)
    [sealed] = await codec.encode([_plain("x")])
    short = Payload(metadata=dict(sealed.metadata), data=sealed.data[:10])
    with pytest.raises(TamperedCiphertext, match="truncated"):
        await codec.decode([short])


def test_keyring_rejects_bad_keys() -> None:
    with pytest.raises(KeyringError):
        Keyring([])
    with pytest.raises(KeyringError, match="32 bytes"):
        Keyring([("short", b"x" * 16)])
    with pytest.raises(KeyringError, match="twice"):
        Keyring([("a", b"x" * 32), ("a", b"y" * 32)])


def test_key_material_never_in_repr(key1) -> None:
    ring = Keyring([key1])
    assert key1[1].hex() not in repr(ring) and repr(key1[1]) not in repr(ring.current)


async def test_data_converter_from_settings_encrypts_with_first_key(key1, key2) -> None:
    converter = data_converter(settings_with(key2, key1))
    [sealed] = await converter.encode([SECRET_INPUT])
    assert sealed.metadata[KEY_ID_METADATA] == b"k2"
    assert await converter.decode([sealed], [dict]) == [SECRET_INPUT]


async def test_unreachable_temporal_is_a_configuration_error() -> None:
    settings = load_settings(temporal_address="127.0.0.1:1")
    with pytest.raises(ConfigurationError, match="PAYSAGA_TEMPORAL_ADDRESS") as info:
        await connect_client(settings)
    assert info.value.field == "PAYSAGA_TEMPORAL_ADDRESS"
