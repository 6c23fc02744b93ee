"""Plaid webhook keys (issue 14, item 5): random kids cannot drive calls to Plaid,
and a Plaid outage defers genuine webhooks (503, Plaid retries) instead of refusing them.

Through the real API server and the local Plaid sandbox, which counts the
/webhook_verification_key/get calls it receives.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from paysaga.client.control.webhook_events import WebhookEventStore
from paysaga.config.settings import Settings
from paysaga.gateways.errors import InvalidRequest, Unavailable
from paysaga.gateways.plaid_keys import (
    FETCH_BURST,
    FETCHES_PER_MINUTE,
    KeyNotFound,
    KeyUnavailable,
    PlaidKeyCache,
)
from paysaga.sandbox.plaid.signing import WebhookSigner
from paysaga.sandbox.runner import SandboxServers
from paysaga.stack.ports import free_port
from tests.api import conftest as api_fixtures
from tests.api.conftest import ApiServer, serve_api

shard_dsns = api_fixtures.shard_dsns
control_db = api_fixtures.control_db
sandboxes = api_fixtures.sandboxes
api_settings = api_fixtures.api_settings

KEY_PATH = "/webhook_verification_key/get"


def key_lookups(sandboxes: SandboxServers) -> int:
    stats = httpx.get(f"{sandboxes.plaid_url}/__sandbox/stats").json()
    return int(stats["requests"].get(KEY_PATH, 0))


def set_plaid_faults(sandboxes: SandboxServers, faults: dict[str, object]) -> None:
    httpx.post(f"{sandboxes.plaid_url}/__sandbox/faults", json=faults).raise_for_status()


def plaid_body() -> bytes:
    return json.dumps(
        {
            "webhook_type": "ITEM",
            "webhook_code": "WEBHOOK_UPDATE_ACKNOWLEDGED",
            "item_id": f"item-{uuid.uuid4().hex}",
            "error": None,
            "environment": "sandbox",
        }
    ).encode()


def event_id(body: bytes) -> str:
    item = json.loads(body)["item_id"]
    return f"{item}:{hashlib.sha256(body).hexdigest()[:32]}"


@pytest.fixture
def fresh_api(api_settings: Settings, sandboxes: SandboxServers) -> Iterator[ApiServer]:
    """An API of its own, so its key cache and throttle start empty."""
    with serve_api(api_settings, sandboxes) as server:
        yield server


def test_random_kids_cost_at_most_the_throttle_in_key_lookups(
    fresh_api: ApiServer, sandboxes: SandboxServers
) -> None:
    forger = WebhookSigner()
    before = key_lookups(sandboxes)
    started = time.monotonic()
    statuses: list[tuple[int, str]] = []
    first_kid = ""
    with fresh_api.client() as http:
        for _ in range(100):
            forger.kid = secrets.token_hex(16)
            first_kid = first_kid or forger.kid
            body = plaid_body()
            response = http.post(
                "/webhooks/plaid", content=body, headers={"Plaid-Verification": forger.sign(body)}
            )
            statuses.append((response.status_code, response.json()["error"]["code"]))
        elapsed = time.monotonic() - started
        lookups = key_lookups(sandboxes) - before
        # The throttle's budget over the run: the burst plus what refilled meanwhile.
        budget = FETCH_BURST + int(elapsed * FETCHES_PER_MINUTE / 60) + 1
        assert lookups <= budget, f"{lookups} key lookups for 100 random kids (budget {budget})"
        # Nothing forged got through: refused (unknown kid) or deferred (throttled).
        assert set(statuses) <= {(401, "invalid_signature"), (503, "webhook_key_unavailable")}
        assert statuses.count((401, "invalid_signature")) == lookups
        # A kid Plaid said it does not know is answered from the negative cache.
        forger.kid = first_kid
        body = plaid_body()
        again = http.post(
            "/webhooks/plaid", content=body, headers={"Plaid-Verification": forger.sign(body)}
        )
        assert again.status_code == 401
        assert key_lookups(sandboxes) - before == lookups


async def test_plaid_outage_defers_a_genuine_webhook_then_accepts_it(
    fresh_api: ApiServer, sandboxes: SandboxServers, control_db: AsyncEngine
) -> None:
    signer: WebhookSigner = sandboxes.app("plaid").state.sandbox.signer
    body = plaid_body()
    headers = {"Plaid-Verification": signer.sign(body)}
    set_plaid_faults(sandboxes, {"error_rate": 1.0})
    try:
        with fresh_api.client() as http:
            during = http.post("/webhooks/plaid", content=body, headers=headers)
    finally:
        set_plaid_faults(sandboxes, {})
    assert during.status_code == 503, during.text
    assert during.json()["error"]["code"] == "webhook_key_unavailable"
    assert int(during.headers["Retry-After"]) >= 1
    assert await WebhookEventStore(control_db).get("plaid", event_id(body)) is None
    # Plaid delivers it again once it is back: accepted and recorded.
    with fresh_api.client() as http:
        after = http.post("/webhooks/plaid", content=body, headers=headers)
    assert after.status_code in (200, 202), after.text
    assert after.json()["received"] is True
    assert await WebhookEventStore(control_db).get("plaid", event_id(body)) is not None


def test_plaid_unreachable_defers_with_503(
    api_settings: Settings, sandboxes: SandboxServers
) -> None:
    unreachable = api_settings.model_copy(
        update={"plaid_base_url": f"http://127.0.0.1:{free_port()}"}
    )
    signer: WebhookSigner = sandboxes.app("plaid").state.sandbox.signer
    body = plaid_body()
    with serve_api(unreachable, sandboxes) as api, api.client() as http:
        response = http.post(
            "/webhooks/plaid", content=body, headers={"Plaid-Verification": signer.sign(body)}
        )
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "webhook_key_unavailable"


# -- the cache on its own (a counting fetcher; the sandbox paths are above) ---------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Fetcher:
    """Answers like PlaidClient.webhook_verification_key: a JWK, or an error."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.outcome: Exception | None = None
        self.expired_at: int | None = None
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, kid: str) -> Mapping[str, Any]:
        self.calls.append(kid)
        self.gate.wait(5)
        if self.outcome is not None:
            raise self.outcome
        return {"kid": kid, "kty": "EC", "expired_at": self.expired_at}


def test_cache_single_flight_per_kid() -> None:
    fetch = Fetcher()
    fetch.gate.clear()
    cache = PlaidKeyCache(fetch)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("kid-a"))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    fetch.gate.set()
    for thread in threads:
        thread.join(5)
    assert fetch.calls == ["kid-a"] and len(results) == 8


def test_cache_negative_entries_expire_and_outages_are_not_remembered() -> None:
    clock, fetch = Clock(), Fetcher()
    cache = PlaidKeyCache(fetch, negative_ttl_s=300, clock=clock)
    fetch.outcome = InvalidRequest("unknown key", gateway="plaid", http_status=400)
    for _ in range(3):
        with pytest.raises(KeyNotFound):
            cache.get("forged")
    assert fetch.calls == ["forged"]
    clock.now += 301
    with pytest.raises(KeyNotFound):
        cache.get("forged")
    assert len(fetch.calls) == 2
    fetch.outcome = Unavailable("down", gateway="plaid", http_status=500)
    for _ in range(2):
        with pytest.raises(KeyUnavailable):
            cache.get("genuine")
    assert fetch.calls.count("genuine") == 2  # an outage is not "unknown"
    fetch.outcome = None
    assert cache.get("genuine")["kid"] == "genuine"


def test_cache_refreshes_live_keys_keeps_expired_ones_and_survives_outages() -> None:
    clock, fetch = Clock(), Fetcher()
    cache = PlaidKeyCache(fetch, refresh_s=3600, clock=clock)
    cache.get("live")
    cache.get("live")
    assert fetch.calls == ["live"]
    clock.now += 3601
    fetch.outcome = Unavailable("down", gateway="plaid", http_status=503)
    assert cache.get("live")["kid"] == "live"  # the key we hold still verifies
    fetch.outcome, fetch.expired_at = None, 1_700_000_000
    clock.now += 1
    assert cache.get("live")["expired_at"] == 1_700_000_000  # rotated out: learnt
    clock.now += 10 * 86400
    cache.get("live")
    assert fetch.calls == ["live"] * 3  # expired_at set: nothing left to ask Plaid


def test_cache_throttles_lookups_across_kids() -> None:
    clock, fetch = Clock(), Fetcher()
    cache = PlaidKeyCache(fetch, burst=3, per_minute=6, clock=clock)
    fetch.outcome = InvalidRequest("unknown key", gateway="plaid", http_status=400)
    outcomes = []
    for i in range(10):
        try:
            cache.get(f"kid-{i}")
        except (KeyNotFound, KeyUnavailable) as exc:
            outcomes.append(type(exc))
    assert len(fetch.calls) == 3
    assert outcomes.count(KeyUnavailable) == 7
    clock.now += 10  # one token back (6 a minute)
    with pytest.raises(KeyNotFound):
        cache.get("kid-new")
    assert len(fetch.calls) == 4
