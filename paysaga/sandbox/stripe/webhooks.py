"""Stripe-format events and their Stripe-Signature header, as the sandbox sends them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from paysaga.sandbox.stripe.render import new_id

API_VERSION = "2025-01-27.acacia"


def event_body(type_: str, obj: dict[str, Any], request_id: str | None) -> tuple[str, bytes]:
    """(event id, JSON body) of one event carrying a snapshot of `obj`."""
    event_id = new_id("evt")
    event = {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "type": type_,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": request_id, "idempotency_key": None},
        "data": {"object": obj},
    }
    return event_id, json.dumps(event).encode()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=<unix>,v1=<hex hmac_sha256(secret, "<t>.<body>")>`, Stripe's scheme."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"
