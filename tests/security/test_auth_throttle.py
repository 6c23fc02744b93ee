"""Failed authentication is throttled per key id and per address, and a valid key is never
locked out by other callers' failures (issue 14 item 4: one attacker behind a shared NAT
used to lock out every merchant behind it after 10 bad keys)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import pytest

from paysaga.api.auth_throttle import ADDRESS_BURST, KEY_BURST, AuthThrottle
from paysaga.client.control.merchants import IssuedKey
from paysaga.config.settings import Settings
from paysaga.sandbox.runner import SandboxServers
from paysaga.security.api_keys import RateLimiter
from tests.api import conftest as api_fixtures
from tests.api.conftest import ApiServer, serve_api

shard_dsns = api_fixtures.shard_dsns
control_db = api_fixtures.control_db
sandboxes = api_fixtures.sandboxes
api_settings = api_fixtures.api_settings
merchants = api_fixtures.merchants
merchant = api_fixtures.merchant
other_merchant = api_fixtures.other_merchant


@pytest.fixture
def isolated_api(api_settings: Settings, sandboxes: SandboxServers) -> Iterator[ApiServer]:
    """Its own server (own throttle), so the flood does not reach other tests."""
    with serve_api(api_settings, sandboxes) as server:
        yield server


def _unknown_key() -> str:
    """Well formed, under a key id nobody holds: what a flood of guesses looks like."""
    return f"psk_test_{secrets.token_hex(8)}_{uuid.uuid4().hex}{uuid.uuid4().hex[:11]}"


def test_a_flood_of_bad_keys_does_not_lock_out_valid_keys_from_the_same_address(
    isolated_api: ApiServer, merchant: IssuedKey, other_merchant: IssuedKey
) -> None:
    statuses = []
    with isolated_api.client() as http:
        for index in range(ADDRESS_BURST + 20):
            bad = _unknown_key() if index % 2 else f"garbage-{index}"
            response = http.get("/v1/payments", headers={"Authorization": f"Bearer {bad}"})
            statuses.append(response.status_code)
    # The attacker's failures run out of the address budget (it refills one a second,
    # so a few late ones may get through as 401)...
    assert statuses[:ADDRESS_BURST] == [401] * ADDRESS_BURST
    assert set(statuses[ADDRESS_BURST:]) <= {401, 429}
    assert statuses[ADDRESS_BURST:].count(429) >= 10
    # ...while merchants behind the same address keep working, and so does the attacker
    # with a real key: a verified key is never throttled.
    for key in (merchant.api_key, other_merchant.api_key):
        with isolated_api.client(key) as http:
            response = http.get("/v1/payments")
            assert response.status_code == 200, response.text


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_throttle_budgets_per_key_id_and_per_address() -> None:
    clock = FakeClock()
    throttle = AuthThrottle(
        by_key=RateLimiter(KEY_BURST, 10 / 60, clock=clock),
        by_address=RateLimiter(ADDRESS_BURST, 1.0, clock=clock),
    )
    key = "psk_test_0123456789abcdef"
    # One key id from many addresses: its own budget.
    assert [throttle.failed(key, f"10.0.0.{i}") for i in range(KEY_BURST)] == [0.0] * KEY_BURST
    assert throttle.failed(key, "10.0.0.99") == pytest.approx(6.0)
    # Other key ids from one address: only the (larger) address budget.
    waits = [throttle.failed(f"psk_test_{i:016x}", "192.0.2.1") for i in range(ADDRESS_BURST)]
    assert waits == [0.0] * ADDRESS_BURST
    assert throttle.failed("psk_test_ffffffffffffffff", "192.0.2.1") == pytest.approx(1.0)
    assert throttle.failed(None, "192.0.2.1") > 0  # a malformed key: the address counts
    assert throttle.failed(None, "192.0.2.2") == 0.0
    clock.now += 6.0  # one failure refilled for the key id
    assert throttle.failed(key, "10.0.0.99") == 0.0
