"""Stripe-Signature: our verifier agrees with the SDK; sandbox webhooks arrive signed."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pytest
import stripe

from paysaga.gateways.stripe_gateway import StripeGateway
from paysaga.gateways.types import AuthorizeRequest
from paysaga.gateways.webhooks import (
    WebhookVerificationError,
    stripe_signature,
    verify_stripe_signature,
)
from paysaga.sandbox.runner import SandboxServers
from paysaga.sandbox.stripe.webhooks import signature_header
from tests.gateways.conftest import SANDBOX_SETTINGS, WebhookReceiver, control

SECRET = "whsec_test_secret"
BODY = json.dumps(
    {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_1", "object": "payment_intent"}},
    }
).encode()


def _header(body: bytes = BODY, secret: str = SECRET, t: int | None = None) -> str:
    ts = int(time.time()) if t is None else t
    return f"t={ts},v1={stripe_signature(secret, body, ts)}"


def test_valid_signature_accepted_by_us_and_by_the_sdk() -> None:
    header = _header()
    assert verify_stripe_signature(BODY, header, SECRET)["id"] == "evt_1"
    assert stripe.Webhook.construct_event(BODY, header, SECRET).id == "evt_1"
    # The sandbox's independent signer produces what both accept.
    sandbox_header = signature_header(SECRET, BODY)
    assert (
        verify_stripe_signature(BODY, sandbox_header, SECRET)["type"] == "payment_intent.succeeded"
    )
    stripe.Webhook.construct_event(BODY, sandbox_header, SECRET)


def test_any_of_several_v1_signatures_may_match() -> None:
    ts = int(time.time())
    header = f"t={ts},v1={'0' * 64},v1={stripe_signature(SECRET, BODY, ts)}"
    verify_stripe_signature(BODY, header, SECRET)


# Headers are built when the test runs, not at collection: a suite that runs for minutes
# would otherwise age the "future" timestamp into the accepted window.
@pytest.mark.parametrize(
    ("body", "make_header", "sdk_rejects"),
    [
        (BODY.replace(b"pi_1", b"pi_2"), lambda: _header(), True),  # tampered body
        (BODY, lambda: _header(secret="whsec_wrong"), True),  # wrong secret
        (BODY, lambda: _header(t=int(time.time()) - 301), True),  # stale timestamp
        # From the future: the SDK only bounds the past; we bound both sides.
        (BODY, lambda: _header(t=int(time.time()) + 400), False),
        (BODY, lambda: None, True),  # missing header
        (BODY, lambda: "t=abc,v1=00", True),  # malformed
        (BODY, lambda: f"t={int(time.time())}", True),  # no v1
    ],
    ids=["tampered", "wrong-secret", "stale", "future", "missing", "malformed", "no-v1"],
)
def test_rejections_agree_with_the_sdk(
    body: bytes, make_header: Callable[[], str | None], sdk_rejects: bool
) -> None:
    header = make_header()
    with pytest.raises(WebhookVerificationError):
        verify_stripe_signature(body, header, SECRET)
    if sdk_rejects:
        with pytest.raises((stripe.SignatureVerificationError, ValueError)):
            stripe.Webhook.construct_event(body, header or "", SECRET)


def test_sandbox_delivers_signed_events_and_duplicates_keep_their_id(
    sandbox_servers: SandboxServers,
    stripe_gateway: StripeGateway,
    stripe_faults: str,
    webhook_receiver: WebhookReceiver,
) -> None:
    control(
        stripe_faults,
        "faults",
        {"webhook_url": webhook_receiver.url, "webhook_duplicate_rate": 1.0, "seed": 3},
    )
    key = f"wf-{uuid.uuid4().hex}"
    payment = stripe_gateway.authorize(
        AuthorizeRequest(f"{key}:authorize", f"pay-{key}", 3000, "USD", "pm_card_visa")
    )
    stripe_gateway.capture(f"{key}:capture", payment.reference)
    sender = sandbox_servers.app("stripe").state.sandbox.sender
    assert sender.flush(10)
    events = []
    for body, headers in webhook_receiver.received:
        event = verify_stripe_signature(
            body, headers.get("Stripe-Signature"), SANDBOX_SETTINGS.stripe_webhook_secret
        )
        stripe.Webhook.construct_event(
            body, headers["Stripe-Signature"], SANDBOX_SETTINGS.stripe_webhook_secret
        )
        if event["data"]["object"].get("id") == payment.reference:
            events.append((event["id"], event["type"]))
    types = [t for _, t in events]
    assert types.count("payment_intent.amount_capturable_updated") == 2  # duplicated...
    assert types.count("payment_intent.succeeded") == 2
    ids = [i for i, t in events if t == "payment_intent.succeeded"]
    assert ids[0] == ids[1]  # ...with the same event id, so receivers can dedupe
    with pytest.raises(WebhookVerificationError):
        body, headers = webhook_receiver.received[0]
        verify_stripe_signature(body, headers["Stripe-Signature"], "whsec_other")
