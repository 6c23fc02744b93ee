"""Attack tests against the real API server (issue 7).

Forged, replayed and stale webhooks are rejected; one merchant's key can neither
read nor act on another merchant's payment (404, not 403); guessing API keys is
rate-limited per presented key id and per client IP (429 with Retry-After), never
locking out a valid key (tests/security/test_auth_throttle.py).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from paysaga.client.control.merchants import IssuedKey
from paysaga.client.control.webhook_events import WebhookEventStore
from paysaga.config.settings import Settings
from paysaga.sandbox.runner import SandboxServers
from tests.api import conftest as api_fixtures
from tests.api.conftest import ApiServer, serve_api
from tests.api.webhook_helpers import stripe_event, stripe_headers

# The API fixtures (server on a real socket, migrated shards, merchants) live in
# tests/api/conftest.py; binding them here makes pytest find them for this module.
shard_dsns = api_fixtures.shard_dsns
control_db = api_fixtures.control_db
sandboxes = api_fixtures.sandboxes
api_settings = api_fixtures.api_settings
api_server = api_fixtures.api_server
merchants = api_fixtures.merchants
merchant = api_fixtures.merchant
other_merchant = api_fixtures.other_merchant


def _is_error(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


# ---------------------------------------------------------------- webhooks
async def test_forged_stripe_webhook_is_rejected_and_not_recorded(
    api_server: ApiServer, control_db: AsyncEngine
) -> None:
    event_id, body = stripe_event(None)
    with api_server.client() as http:
        forged = http.post(
            "/webhooks/stripe", content=body, headers=stripe_headers("whsec_attacker", body)
        )
        unsigned = http.post("/webhooks/stripe", content=body)
        garbage = http.post(
            "/webhooks/stripe", content=body, headers={"Stripe-Signature": "t=x,v1=zz"}
        )
    for response in (forged, unsigned, garbage):
        _is_error(response, 401, "invalid_signature")
    assert await WebhookEventStore(control_db).get("stripe", event_id) is None


async def test_tampered_body_with_a_valid_signature_is_rejected(
    api_server: ApiServer, control_db: AsyncEngine
) -> None:
    secret = api_server.settings.stripe_webhook_secret.get_secret_value()
    event_id, body = stripe_event(None)
    headers = stripe_headers(secret, body)
    tampered = body.replace(b"1500", b"9999")
    with api_server.client() as http:
        _is_error(
            http.post("/webhooks/stripe", content=tampered, headers=headers),
            401,
            "invalid_signature",
        )
    assert await WebhookEventStore(control_db).get("stripe", event_id) is None


async def test_stale_stripe_webhook_is_rejected(
    api_server: ApiServer, control_db: AsyncEngine
) -> None:
    secret = api_server.settings.stripe_webhook_secret.get_secret_value()
    event_id, body = stripe_event(None)
    stale = stripe_headers(secret, body, timestamp=int(time.time()) - 3600)
    with api_server.client() as http:
        _is_error(
            http.post("/webhooks/stripe", content=body, headers=stale), 401, "invalid_signature"
        )
    assert await WebhookEventStore(control_db).get("stripe", event_id) is None


async def test_replayed_stripe_webhook_changes_nothing(
    api_server: ApiServer, control_db: AsyncEngine
) -> None:
    secret = api_server.settings.stripe_webhook_secret.get_secret_value()
    event_id, body = stripe_event(None, type_="customer.created")
    store = WebhookEventStore(control_db)
    with api_server.client() as http:
        http.post("/webhooks/stripe", content=body, headers=stripe_headers(secret, body))
        before = await store.get("stripe", event_id)
        # An attacker replays a captured delivery, freshly re-signed or as is.
        for _ in range(3):
            replay = http.post(
                "/webhooks/stripe", content=body, headers=stripe_headers(secret, body)
            )
            assert replay.status_code in (200, 202)
    after = await store.get("stripe", event_id)
    assert before is not None and after is not None
    assert (after.id, after.received_at, after.payload_hash) == (
        before.id,
        before.received_at,
        before.payload_hash,
    )


def test_forged_braintree_and_plaid_webhooks_are_rejected(api_server: ApiServer) -> None:
    payload = base64.b64encode(b"<notification><kind>check</kind></notification>").decode()
    jwt_header = (
        base64.urlsafe_b64encode(json.dumps({"alg": "ES256", "kid": "forged"}).encode())
        .decode()
        .rstrip("=")
    )
    jwt_claims = base64.urlsafe_b64encode(json.dumps({"iat": int(time.time())}).encode())
    forged_jwt = f"{jwt_header}.{jwt_claims.decode().rstrip('=')}.{'A' * 86}"
    with api_server.client() as http:
        bt = http.post(
            "/webhooks/braintree",
            data={"bt_signature": "paysaga_public|deadbeef", "bt_payload": payload},
        )
        _is_error(bt, 401, "invalid_signature")
        _is_error(http.post("/webhooks/braintree", content=b"\xff\xfe"), 401, "invalid_signature")
        plaid = http.post(
            "/webhooks/plaid",
            json={"webhook_type": "ITEM", "webhook_code": "ERROR", "item_id": "x"},
            headers={"Plaid-Verification": forged_jwt},
        )
        _is_error(plaid, 401, "invalid_signature")
        _is_error(http.post("/webhooks/plaid", json={}), 401, "invalid_signature")


# ------------------------------------------------------- merchant isolation
def test_one_merchant_cannot_read_or_refund_another_merchants_payment(
    api_server: ApiServer, merchant: IssuedKey, other_merchant: IssuedKey
) -> None:
    with api_server.client(merchant.api_key) as http:
        created = http.post(
            "/v1/payments",
            json={
                "amount_minor": 2500,
                "currency": "EUR",
                "customer_id": "cus_victim",
                "payment_method": "pm_card_visa",
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert created.status_code == 201, created.text
    payment_id = created.json()["id"]
    with api_server.client(other_merchant.api_key) as http:
        _is_error(http.get(f"/v1/payments/{payment_id}"), 404, "payment_not_found")
        _is_error(
            http.post(f"/v1/payments/{payment_id}/refunds", json={"amount_minor": 100}),
            404,
            "payment_not_found",
        )
        _is_error(http.post(f"/v1/payments/{payment_id}/capture"), 404, "payment_not_found")
        _is_error(http.post(f"/v1/payments/{payment_id}/cancel"), 404, "payment_not_found")
        listed = http.get("/v1/payments", params={"customer": "cus_victim"}).json()["data"]
        assert payment_id not in {row["id"] for row in listed}
        # Reusing the victim's Idempotency-Key makes the attacker's own payment, not theirs.
        key = payment_id.split(".", 1)[1]
        own = http.post(
            "/v1/payments",
            json={
                "amount_minor": 1,
                "currency": "EUR",
                "customer_id": "cus_attacker",
                "payment_method": "pm_card_visa",
            },
            headers={"Idempotency-Key": key},
        )
        assert own.status_code == 201 and own.json()["id"] != payment_id


# ----------------------------------------------------------- brute force
@pytest.fixture
def isolated_api(api_settings: Settings, sandboxes: SandboxServers) -> Iterator[ApiServer]:
    """Its own server, so the lockout below does not leak into other tests' rate limiter."""
    with serve_api(api_settings, sandboxes) as server:
        yield server


def test_api_key_brute_force_is_rate_limited(isolated_api: ApiServer, merchant: IssuedKey) -> None:
    statuses, retry_after = [], []
    for _ in range(25):
        guess = f"{merchant.key_id}_{uuid.uuid4().hex}{uuid.uuid4().hex[:11]}"
        with isolated_api.client(guess) as http:
            response = http.get("/v1/payments")
        statuses.append(response.status_code)
        retry_after.append(response.headers.get("Retry-After"))
    # Failures are limited per presented key id: 10, then 429 with Retry-After.
    assert statuses[:10] == [401] * 10
    assert set(statuses[10:]) == {429}
    assert all(int(wait) >= 1 for wait in retry_after[10:] if wait is not None)
    assert None not in retry_after[10:]
    with isolated_api.client(merchant.api_key) as http:
        # Only failures are throttled: the right key still works (issue 14 item 4).
        assert http.get("/v1/payments").status_code == 200
