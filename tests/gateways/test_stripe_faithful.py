"""The Stripe sandbox behaves as Stripe documents where it is unkind (sandbox/README.md).

Search lags behind writes while retrieve and lists do not; a late success finishes
after the client gave up; a capture can succeed with its answer lost; a refund can
be accepted pending and fail later; a 200 can carry a body that drifted.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from paysaga.sandbox import testdata
from paysaga.sandbox.drift import drifted_fields
from paysaga.sandbox.stripe.faults import DRIFTING_FIELDS
from tests.gateways.conftest import SANDBOX_SETTINGS, WebhookReceiver, control

pytestmark = pytest.mark.timeout(60)
AUTH = {"Authorization": f"Bearer {SANDBOX_SETTINGS.stripe_api_key}"}


def call(
    url: str, method: str, path: str, data: dict[str, str] | None = None, **options: Any
) -> httpx.Response:
    headers = {**AUTH, **options.pop("headers", {})}
    return httpx.request(
        method, f"{url}{path}", data=data, headers=headers, timeout=options.pop("timeout", 5)
    )


def intent_form(payment_id: str, capture: str = "automatic") -> dict[str, str]:
    return {
        "amount": "1500",
        "currency": "usd",
        "payment_method": testdata.STRIPE_PM_SUCCESS,
        "confirm": "true",
        "capture_method": capture,
        "metadata[payment_id]": payment_id,
    }


def search(url: str, payment_id: str) -> list[dict[str, Any]]:
    query = {"query": f"metadata['payment_id']:'{payment_id}'"}
    response = httpx.get(f"{url}/v1/payment_intents/search", params=query, headers=AUTH)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["data"]
    return found


def test_search_misses_a_fresh_intent_until_the_lag_passes(stripe_faults: str) -> None:
    control(stripe_faults, "faults", {"search_lag_s": 1.0})
    payment_id = f"pay_{uuid.uuid4().hex[:12]}"
    created = call(stripe_faults, "POST", "/v1/payment_intents", intent_form(payment_id)).json()

    assert search(stripe_faults, payment_id) == []  # not read-after-write
    retrieved = call(stripe_faults, "GET", f"/v1/payment_intents/{created['id']}").json()
    assert retrieved["status"] == "succeeded"  # retrieve by id is consistent
    listed = call(stripe_faults, "GET", "/v1/payment_intents?limit=100").json()["data"]
    assert created["id"] in [pi["id"] for pi in listed]  # lists are not lagged (documented)

    time.sleep(1.1)
    assert [pi["id"] for pi in search(stripe_faults, payment_id)] == [created["id"]]


def test_no_lag_by_default(stripe_faults: str) -> None:
    payment_id = f"pay_{uuid.uuid4().hex[:12]}"
    call(stripe_faults, "POST", "/v1/payment_intents", intent_form(payment_id))
    assert len(search(stripe_faults, payment_id)) == 1


def test_late_success_times_out_and_the_charge_appears_later(stripe_faults: str) -> None:
    control(stripe_faults, "faults", {"late_success_rate": 1.0, "timeout_hang_s": 1.0})
    payment_id = f"pay_{uuid.uuid4().hex[:12]}"
    key = {"Idempotency-Key": f"late-{payment_id}"}
    form = intent_form(payment_id)
    with pytest.raises(httpx.TimeoutException):
        call(stripe_faults, "POST", "/v1/payment_intents", form, headers=key, timeout=0.5)
    control(stripe_faults, "faults", {})

    assert search(stripe_faults, payment_id) == []  # not done yet: nothing to find
    busy = call(stripe_faults, "POST", "/v1/payment_intents", form, headers=key)
    assert busy.status_code == 409  # Stripe: the key is in use by a running request
    assert busy.json()["error"]["code"] == "idempotency_key_in_use"

    time.sleep(1.0)
    found = search(stripe_faults, payment_id)
    assert [pi["status"] for pi in found] == ["succeeded"]  # the money moved after all
    replay = call(stripe_faults, "POST", "/v1/payment_intents", form, headers=key)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == found[0]["id"]  # the key resolves it, no second charge


def test_capture_timeout_after_success_captures_and_withholds(stripe_faults: str) -> None:
    payment_id = f"pay_{uuid.uuid4().hex[:12]}"
    form = intent_form(payment_id, capture="manual")
    intent = call(stripe_faults, "POST", "/v1/payment_intents", form).json()
    control(
        stripe_faults,
        "faults",
        {"capture_timeout_after_success_rate": 1.0, "timeout_hang_s": 1.0},
    )
    other = call(stripe_faults, "POST", "/v1/payment_intents", intent_form(payment_id + "x"))
    assert other.status_code == 200  # only captures are hit

    with pytest.raises(httpx.TimeoutException):
        call(stripe_faults, "POST", f"/v1/payment_intents/{intent['id']}/capture", timeout=0.5)
    control(stripe_faults, "faults", {})
    after = call(stripe_faults, "GET", f"/v1/payment_intents/{intent['id']}").json()
    assert after["status"] == "succeeded" and after["amount_received"] == 1500
    time.sleep(0.6)  # let the withheld answer finish before the next test


def test_refund_pending_then_failed(stripe_faults: str, webhook_receiver: WebhookReceiver) -> None:
    payment_id = f"pay_{uuid.uuid4().hex[:12]}"
    intent = call(stripe_faults, "POST", "/v1/payment_intents", intent_form(payment_id)).json()
    control(
        stripe_faults,
        "faults",
        {
            "refund_pending_then_failed_rate": 1.0,
            "refund_fail_after_s": 0.4,
            "webhook_url": webhook_receiver.url,
        },
    )
    refund = call(stripe_faults, "POST", "/v1/refunds", {"payment_intent": intent["id"]}).json()
    assert refund["status"] == "pending"
    charge_path = f"/v1/charges/{intent['latest_charge']}"
    assert call(stripe_faults, "GET", charge_path).json()["amount_refunded"] == 1500

    deadline = time.monotonic() + 5
    while call(stripe_faults, "GET", f"/v1/refunds/{refund['id']}").json()["status"] != "failed":
        assert time.monotonic() < deadline, "refund never failed"
        time.sleep(0.1)
    failed = call(stripe_faults, "GET", f"/v1/refunds/{refund['id']}").json()
    assert failed["failure_reason"] == "expired_or_canceled_card"
    charge = call(stripe_faults, "GET", charge_path).json()
    assert charge["amount_refunded"] == 0 and charge["refunded"] is False
    balance = call(stripe_faults, "GET", "/v1/balance_transactions?type=refund_failure&limit=100")
    back = [t for t in balance.json()["data"] if t["source"] == refund["id"]]
    assert [t["amount"] for t in back] == [1500]
    assert back[0]["id"] == failed["failure_balance_transaction"]
    stats = control(stripe_faults, "stats")
    assert stats["by_payment_id"][payment_id]["refunded_minor"] == 0  # type: ignore[index]

    deadline = time.monotonic() + 5
    types: set[str] = set()
    while not {"refund.failed", "charge.refund.updated"} <= types:
        assert time.monotonic() < deadline, f"events seen: {types}"
        time.sleep(0.1)
        types = {json.loads(body)["type"] for body, _ in webhook_receiver.received}


def test_a_refund_that_will_fail_is_never_announced_succeeded(
    stripe_faults: str, webhook_receiver: WebhookReceiver
) -> None:
    """Its refund.created said `succeeded` (the refund was made pending only after the
    event was queued), so the payment closed as refunded before refund.failed came
    (chaos seed 577881577). Stripe's events carry the refund as it is: pending."""
    payment_id = f"pay_{uuid.uuid4().hex[:12]}"
    intent = call(stripe_faults, "POST", "/v1/payment_intents", intent_form(payment_id)).json()
    control(
        stripe_faults,
        "faults",
        {
            "refund_pending_then_failed_rate": 1.0,
            "refund_fail_after_s": 0.3,
            "webhook_url": webhook_receiver.url,
        },
    )
    refund = call(stripe_faults, "POST", "/v1/refunds", {"payment_intent": intent["id"]}).json()
    deadline = time.monotonic() + 5
    seen: list[tuple[str, str]] = []
    while ("refund.failed", "failed") not in seen:
        assert time.monotonic() < deadline, f"events seen: {seen}"
        time.sleep(0.1)
        bodies = [json.loads(body) for body, _ in webhook_receiver.received]
        seen = [
            (b["type"], b["data"]["object"]["status"])
            for b in bodies
            if b["data"]["object"].get("id") == refund["id"]
        ]
    assert ("refund.created", "pending") in seen
    assert all(status != "succeeded" for _, status in seen), seen


def test_malformed_response_after_the_side_effect(stripe_faults: str) -> None:
    control(stripe_faults, "faults", {"malformed_response_rate": 1.0, "seed": 3})
    payment_id = f"pay_{uuid.uuid4().hex[:12]}"
    response = call(stripe_faults, "POST", "/v1/payment_intents", intent_form(payment_id))
    control(stripe_faults, "faults", {})
    assert response.status_code == 200
    drifted = response.json()
    real = call(stripe_faults, "GET", f"/v1/payment_intents/{drifted['id']}").json()
    assert real["status"] == "succeeded"  # the charge was made
    changed = drifted_fields(real, drifted, DRIFTING_FIELDS)
    assert len(changed) == 1, changed
