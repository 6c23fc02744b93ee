"""API keys: format, keyed hashing, constant-time verify, redaction; the rate limiter."""

from __future__ import annotations

import hmac

import pytest

from paysaga.domain.errors import ConfigurationError
from paysaga.security import api_keys
from paysaga.security.api_keys import (
    DUMMY_HASH,
    RateLimiter,
    generate_api_key,
    hash_api_key,
    key_id_of,
    verify_api_key,
)
from paysaga.security.redaction import redact_text


def test_generated_key_shape_and_hash() -> None:
    key = generate_api_key()
    assert key.key_id.startswith("psk_test_") and len(key.key_id) == len("psk_test_") + 16
    assert key.plaintext.startswith(key.key_id + "_")
    assert key_id_of(key.plaintext) == key.key_id
    assert key.plaintext not in key.key_hash and key.key_hash.startswith("hmac-sha256$")
    assert verify_api_key(key.plaintext, key.key_hash)
    assert generate_api_key(live=True).key_id.startswith("psk_live_")
    assert generate_api_key().plaintext != key.plaintext


def test_wrong_or_malformed_keys_fail() -> None:
    key = generate_api_key()
    last = key.plaintext[-1]
    wrong = key.plaintext[:-1] + ("A" if last != "A" else "B")
    assert not verify_api_key(wrong, key.key_hash)
    assert not verify_api_key(key.plaintext, DUMMY_HASH)
    assert not verify_api_key(key.plaintext, "garbage\u00e9")
    for bad in ("", "psk_test_xyz", key.plaintext + "x", "sk_test_" + key.plaintext[9:]):
        assert key_id_of(bad) is None


def test_pepper_is_part_of_the_hash() -> None:
    token = generate_api_key().plaintext
    assert hash_api_key(token, b"pepper-a") != hash_api_key(token, b"pepper-b")
    assert not verify_api_key(token, hash_api_key(token, b"pepper-a"), b"pepper-b")


def test_verify_uses_constant_time_compare(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    key = generate_api_key()
    assert verify_api_key(key.plaintext, key.key_hash)
    assert len(calls) == 1


def test_production_without_pepper_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYSAGA_ENV", "production")
    monkeypatch.delenv("PAYSAGA_API_KEY_PEPPER", raising=False)
    api_keys._pepper.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="PAYSAGA_API_KEY_PEPPER"):
            hash_api_key("psk_live_x")
    finally:
        monkeypatch.undo()
        api_keys._pepper.cache_clear()


def test_keys_are_redacted_from_log_text_but_key_id_kept() -> None:
    key = generate_api_key()
    out = redact_text(f"auth failed for {key.plaintext}")
    assert key.plaintext not in out and key.plaintext[-43:] not in out
    assert key.key_id in out


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_blocks_after_capacity_then_refills() -> None:
    clock = FakeClock()
    limiter = RateLimiter(capacity=3, per_second=0.5, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("1.2.3.4") == 0
        limiter.record_failure("1.2.3.4")
    assert limiter.retry_after("1.2.3.4") == pytest.approx(2.0)
    assert limiter.retry_after("5.6.7.8") == 0  # other clients unaffected
    clock.now += 2.0
    assert limiter.retry_after("1.2.3.4") == 0
    limiter.record_failure("1.2.3.4")
    assert limiter.retry_after("1.2.3.4") > 0


def test_rate_limiter_allow_and_bounded_memory() -> None:
    clock = FakeClock()
    limiter = RateLimiter(capacity=2, per_second=1, max_clients=3, clock=clock)
    assert limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")
    for client in ("b", "c", "d"):
        limiter.allow(client)
    assert len(limiter._buckets) == 3 and "a" not in limiter._buckets
    limiter.reset("b")
    assert "b" not in limiter._buckets


def test_brute_force_budget_is_tiny() -> None:
    """A guesser at full speed for an hour gets capacity + 3600 * rate attempts."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)  # defaults used by the API
    attempts = 0
    for _ in range(36_000):  # one attempt every 0.1 s for an hour
        clock.now += 0.1
        if limiter.retry_after("attacker") == 0:
            limiter.record_failure("attacker")
            attempts += 1
    assert attempts <= 10 + 3600 * (10 / 60) + 1
