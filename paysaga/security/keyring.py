"""The key-encryption keys: several can be configured, the first encrypts, all decrypt."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from paysaga.config.settings import Settings
from paysaga.security.errors import KeyringError, UnknownEncryptionKey

KEY_BYTES = 32  # AES-256


@dataclass(frozen=True)
class Key:
    key_id: str
    # repr=False: a key must never end up in a log line or a traceback.
    material: bytes = field(repr=False)


class Keyring:
    """Ordered keys; rotation = put a new key first and keep the old ones to decrypt."""

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        ordered: list[Key] = []
        seen: set[str] = set()
        for key_id, material in keys:
            if not key_id or ":" in key_id:
                raise KeyringError(f"invalid key id {key_id!r}", field="PAYSAGA_ENCRYPTION_KEYS")
            if key_id in seen:
                raise KeyringError(
                    f"key id {key_id!r} appears twice", field="PAYSAGA_ENCRYPTION_KEYS"
                )
            if len(material) != KEY_BYTES:
                raise KeyringError(
                    f"key {key_id!r} must be {KEY_BYTES} bytes, got {len(material)}",
                    field="PAYSAGA_ENCRYPTION_KEYS",
                )
            seen.add(key_id)
            ordered.append(Key(key_id, bytes(material)))
        if not ordered:
            raise KeyringError("no encryption key configured", field="PAYSAGA_ENCRYPTION_KEYS")
        self._keys = tuple(ordered)
        self._by_id = {key.key_id: key for key in ordered}

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        return cls(settings.encryption_key_material())

    @property
    def current(self) -> Key:
        """The key that encrypts everything new."""
        return self._keys[0]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(key.key_id for key in self._keys)

    def get(self, key_id: str) -> Key:
        try:
            return self._by_id[key_id]
        except KeyError:
            raise UnknownEncryptionKey(key_id) from None

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._by_id

    def __repr__(self) -> str:
        return f"Keyring(key_ids={list(self.key_ids)!r})"
