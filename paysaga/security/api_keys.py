"""Merchant API keys: generated once, stored only as a keyed hash, checked in constant time.

Format: `psk_{test|live}_{16 hex key id}_{43 base62 secret}`. The prefix makes a
leaked key recognisable to secret scanners and to our redaction; the key id
(`psk_test_0123456789abcdef`) is public, used for lookup and shown in logs.

Why HMAC-SHA256 with a server pepper and not scrypt/argon2: the secret part is
~256 bits of CSPRNG output, not a human password, so no dictionary applies and a
slow hash buys nothing against guessing, while it would cost tens of
milliseconds of CPU on every API request (a denial-of-service lever). The pepper
(PAYSAGA_API_KEY_PEPPER, kept outside the database) means a stolen api_keys table
does not even allow offline checking of a candidate key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from paysaga.config.settings import load_settings

_ALPHABET = string.ascii_letters + string.digits
_SECRET_CHARS = 43  # 43 * log2(62) ~ 256 bits
_KEY_RE = re.compile(r"^(psk_(?:test|live)_[0-9a-f]{16})_([A-Za-z0-9]{43})$")
HASH_SCHEME = "hmac-sha256"


@lru_cache(maxsize=1)
def _pepper() -> bytes:
    # The same Settings every entry point validates at start-up (PAYSAGA_ENV=production
    # refuses a missing, short or development pepper there, not at the first request).
    return load_settings().api_key_pepper_bytes()


class GeneratedKey(NamedTuple):
    key_id: str  # public: stored in clear, used for lookup
    plaintext: str  # the whole key: shown to the merchant once, never stored or logged
    key_hash: str  # what the database keeps


def hash_api_key(token: str, pepper: bytes | None = None) -> str:
    digest = hmac.new(pepper or _pepper(), token.encode(), hashlib.sha256).hexdigest()
    return f"{HASH_SCHEME}${digest}"


def generate_api_key(*, live: bool = False, pepper: bytes | None = None) -> GeneratedKey:
    key_id = f"psk_{'live' if live else 'test'}_{secrets.token_hex(8)}"
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_CHARS))
    plaintext = f"{key_id}_{secret}"
    return GeneratedKey(key_id, plaintext, hash_api_key(plaintext, pepper))


def key_id_of(presented: str) -> str | None:
    """The public key id of a well-formed key, else None (no lookup needed)."""
    match = _KEY_RE.match(presented)
    return match.group(1) if match else None


def verify_api_key(presented: str, stored_hash: str, pepper: bytes | None = None) -> bool:
    """Constant-time comparison of the presented key's hash with the stored one."""
    return hmac.compare_digest(
        hash_api_key(presented, pepper).encode(), stored_hash.encode(errors="replace")
    )


# Verified against when the key id is unknown, so both paths cost the same.
DUMMY_HASH = f"{HASH_SCHEME}${'0' * 64}"


# ------------------------------------------------------------------ rate limiting
@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token bucket per client (IP, key id...): `capacity` failures, refilled at `per_second`.

    In-process, so each API replica limits on its own; with N replicas an attacker
    gets N times the budget, still far too little to guess a 256-bit key. Memory is
    bounded: at most `max_clients` buckets, least recently used evicted first.
    """

    def __init__(
        self,
        capacity: int = 10,
        per_second: float = 10 / 60,
        *,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1 or per_second <= 0:
            raise ValueError("capacity must be >= 1 and per_second > 0")
        self.capacity = capacity
        self.per_second = per_second
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def _bucket(self, client: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = _Bucket(float(self.capacity), now)
            self._buckets[client] = bucket
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
            bucket.tokens = min(
                self.capacity, bucket.tokens + (now - bucket.updated) * self.per_second
            )
            bucket.updated = now
        return bucket

    def retry_after(self, client: str) -> float:
        """Seconds until `client` may try again; 0 when it may try now."""
        with self._lock:
            bucket = self._bucket(client)
            return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.per_second

    def record_failure(self, client: str) -> None:
        with self._lock:
            bucket = self._bucket(client)
            bucket.tokens = max(0.0, bucket.tokens - 1)

    def allow(self, client: str) -> bool:
        """Spend one token if there is one (for limiting every attempt, not only failures)."""
        with self._lock:
            bucket = self._bucket(client)
            if bucket.tokens < 1:
                return False
            bucket.tokens -= 1
            return True

    def reset(self, client: str) -> None:
        with self._lock:
            self._buckets.pop(client, None)
