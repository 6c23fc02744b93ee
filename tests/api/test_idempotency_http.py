"""POST /v1/payments through the real server: replay and conflict of an Idempotency-Key."""

from __future__ import annotations

import uuid

from paysaga.client.control.merchants import IssuedKey
from tests.api.conftest import ApiServer

BODY = {
    "amount_minor": 4200,
    "currency": "USD",
    "customer_id": "cus_idem",
    "payment_method": "pm_card_visa",
}


def test_same_key_same_body_replays_and_different_body_conflicts(
    api_server: ApiServer, merchant: IssuedKey
) -> None:
    key = uuid.uuid4().hex
    with api_server.client(merchant.api_key) as http:
        first = http.post("/v1/payments", json=BODY, headers={"Idempotency-Key": key})
        # Same body, keys in another order: the same payment, marked as a replay.
        again = http.post(
            "/v1/payments", json=dict(reversed(BODY.items())), headers={"Idempotency-Key": key}
        )
        other = http.post(
            "/v1/payments", json={**BODY, "amount_minor": 4300}, headers={"Idempotency-Key": key}
        )
        missing = http.post("/v1/payments", json=BODY)
        bad_key = http.post("/v1/payments", json=BODY, headers={"Idempotency-Key": "a.b"})
        float_amount = http.post(
            "/v1/payments", json={**BODY, "amount_minor": 42.0}, headers={"Idempotency-Key": "f"}
        )
    assert first.status_code == 201, first.text
    # A fresh start answers with the pending payment it just created (no query round trip).
    assert first.json()["status"] == "pending"
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["id"] == f"payment-{merchant.merchant_id}.{key}"
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "Idempotency-Key"
    assert bad_key.status_code == 422 and bad_key.json()["error"]["code"] == "invalid_request"
    assert float_amount.status_code == 422
    assert float_amount.json()["error"] == {
        "code": "invalid_amount",
        "message": "amount_minor: amount must be an integer number of minor units",
        "field": "amount_minor",
    }
