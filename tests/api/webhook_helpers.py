"""Build webhook requests exactly as the providers (and our sandboxes) sign them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from paysaga.sandbox.stripe.webhooks import signature_header


def stripe_event(
    payment_id: str | None, type_: str = "payment_intent.succeeded", event_id: str | None = None
) -> tuple[str, bytes]:
    event_id = event_id or f"evt_{uuid.uuid4().hex[:24]}"
    intent: dict[str, Any] = {
        "id": f"pi_{uuid.uuid4().hex[:24]}",
        "object": "payment_intent",
        "amount": 1500,
        "currency": "usd",
        "metadata": {"payment_id": payment_id} if payment_id else {},
    }
    body = {
        "id": event_id,
        "object": "event",
        "created": int(time.time()),
        "type": type_,
        "data": {"object": intent},
    }
    return event_id, json.dumps(body).encode()


def stripe_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    return {
        "Stripe-Signature": signature_header(secret, body, timestamp),
        "Content-Type": "application/json",
    }
