"""Errors of the security layer, with stable codes (see domain.errors)."""

from __future__ import annotations

from paysaga.domain.errors import ConfigurationError, NotFound, PaysagaError


class KeyringError(ConfigurationError):
    """The configured keys are unusable (none, duplicate id, wrong length)."""

    code = "keyring_invalid"


class UnknownEncryptionKey(PaysagaError):
    """Ciphertext names a key id that this process does not hold."""

    code = "encryption_key_unknown"

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"ciphertext was encrypted with key {key_id!r}, which is not configured "
            "(add it to PAYSAGA_ENCRYPTION_KEYS to decrypt)",
            field="PAYSAGA_ENCRYPTION_KEYS",
        )
        self.key_id = key_id


class TamperedCiphertext(PaysagaError):
    """Authentication of a ciphertext failed: modified, truncated or bound to other data."""

    code = "ciphertext_tampered"


class SecretNotFound(NotFound):
    """No field-encrypted record under this id."""

    code = "secret_not_found"
