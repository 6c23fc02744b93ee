"""Keys and settings for the security tests."""

from __future__ import annotations

import base64
import os

import pytest

from paysaga.config.settings import Settings, load_settings
from paysaga.security.keyring import Keyring


def make_key(key_id: str) -> tuple[str, bytes]:
    return key_id, os.urandom(32)


def key_spec(key: tuple[str, bytes]) -> str:
    return f"{key[0]}:{base64.b64encode(key[1]).decode()}"


def settings_with(*keys: tuple[str, bytes], **overrides: object) -> Settings:
    """Settings whose PAYSAGA_ENCRYPTION_KEYS are exactly `keys`, the first encrypting."""
    return load_settings(encryption_keys=",".join(key_spec(k) for k in keys), **overrides)


@pytest.fixture
def key1() -> tuple[str, bytes]:
    return make_key("k1")


@pytest.fixture
def key2() -> tuple[str, bytes]:
    return make_key("k2")


@pytest.fixture
def keyring1(key1: tuple[str, bytes]) -> Keyring:
    return Keyring([key1])
