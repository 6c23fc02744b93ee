"""Webhook ingress through the real server: accept, deliver as a signal, redeliver, reject."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType

from paysaga.client.control.merchants import IssuedKey
from paysaga.client.control.webhook_events import WebhookEventStore
from paysaga.client.workflow_refs import GATEWAY_EVENT_SIGNAL
from tests.api.conftest import ApiServer
from tests.api.webhook_helpers import stripe_event, stripe_headers


async def test_stripe_event_is_signalled_once_to_the_payment(
    api_server: ApiServer, merchant: IssuedKey, control_db: AsyncEngine
) -> None:
    secret = api_server.settings.stripe_webhook_secret.get_secret_value()
    key = uuid.uuid4().hex
    with api_server.client(merchant.api_key) as http:
        created = http.post(
            "/v1/payments",
            json={
                "amount_minor": 1500,
                "currency": "USD",
                "customer_id": "cus_1",
                "payment_method": "pm_card_visa",
            },
            headers={"Idempotency-Key": key},
        )
        assert created.status_code == 201, created.text
        payment_id = created.json()["id"]
        event_id, body = stripe_event(payment_id)
        first = http.post("/webhooks/stripe", content=body, headers=stripe_headers(secret, body))
        again = http.post("/webhooks/stripe", content=body, headers=stripe_headers(secret, body))
    assert first.status_code == 200 and first.json()["delivered"] is True, first.text
    assert again.status_code == 200 and again.json()["duplicate"] is True
    row = await WebhookEventStore(control_db).get("stripe", event_id)
    assert row is not None and row.delivered_at is not None and row.workflow_id == payment_id
    # Exactly one signal reached the workflow's history.
    from paysaga.config.temporal import connect_client

    client = await connect_client(api_server.settings)
    history = await client.get_workflow_handle(payment_id).fetch_history()
    signals = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == GATEWAY_EVENT_SIGNAL
    ]
    assert len(signals) == 1


async def test_event_for_no_running_payment_is_kept_undeliverable(
    api_server: ApiServer, control_db: AsyncEngine
) -> None:
    secret = api_server.settings.stripe_webhook_secret.get_secret_value()
    ghost = f"payment-mer_0000000000000000.{uuid.uuid4().hex}"
    event_id, body = stripe_event(ghost)
    with api_server.client() as http:
        response = http.post("/webhooks/stripe", content=body, headers=stripe_headers(secret, body))
    assert response.status_code == 202 and response.json()["delivered"] is False
    row = await WebhookEventStore(control_db).get("stripe", event_id)
    assert row is not None and row.delivered_at is None and row.delivery_error


async def test_unmapped_event_types_are_recorded_not_delivered(
    api_server: ApiServer, control_db: AsyncEngine
) -> None:
    secret = api_server.settings.stripe_webhook_secret.get_secret_value()
    event_id, body = stripe_event(None, type_="customer.created")
    with api_server.client() as http:
        response = http.post("/webhooks/stripe", content=body, headers=stripe_headers(secret, body))
    assert response.status_code == 202
    assert await WebhookEventStore(control_db).get("stripe", event_id) is not None
