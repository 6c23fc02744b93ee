"""Braintree webhooks: the sandbox signs like the SDK's WebhookTesting; we verify via the SDK."""

# ruff: noqa: F811 - pytest fixtures imported by name, then requested as arguments

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import braintree
import pytest

from paysaga.gateways.braintree_gateway import BraintreeGateway
from paysaga.gateways.braintree_webhooks import (
    BraintreeEvent,
    BraintreeWebhookVerifier,
    WebhookSignatureInvalid,
)
from paysaga.sandbox.braintree import notify
from tests.gateways.braintree_fixtures import (  # noqa: F401 - fixtures
    WebhookReceiver,
    bt,
    bt_url,
    new_payment,
    webhook_receiver,
)
from tests.gateways.conftest import SANDBOX_SETTINGS, control

pytestmark = pytest.mark.timeout(60)


def verifier(**overrides: Any) -> BraintreeWebhookVerifier:
    options: dict[str, Any] = {
        "merchant_id": SANDBOX_SETTINGS.braintree_merchant_id,
        "public_key": SANDBOX_SETTINGS.braintree_public_key,
        "private_key": SANDBOX_SETTINGS.braintree_private_key,
        **overrides,
    }
    return BraintreeWebhookVerifier(**options)


def wait_for_events(
    receiver: WebhookReceiver, done: Callable[[list[BraintreeEvent]], bool]
) -> list[BraintreeEvent]:
    """Verify everything received until `done` holds (other tests' events may be mixed in)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = [verifier().parse(*form(body)) for body in list(receiver.bodies)]
        if done(events):
            return events
        time.sleep(0.05)
    raise AssertionError("expected webhooks did not arrive")


def form(body: bytes) -> tuple[str, str]:
    fields = parse_qs(body.decode())
    return fields["bt_signature"][0], fields["bt_payload"][0]


def test_sandbox_signs_exactly_like_the_sdk() -> None:
    """Our signer and the SDK's WebhookTesting agree on a payload they both made."""
    config = braintree.Configuration(
        braintree.Environment.Development,
        SANDBOX_SETTINGS.braintree_merchant_id,
        SANDBOX_SETTINGS.braintree_public_key,
        SANDBOX_SETTINGS.braintree_private_key,
    )
    sample = braintree.BraintreeGateway(config).webhook_testing.sample_notification(
        "transaction_settled", "txn123"
    )
    ours = notify.sign(
        sample["bt_payload"],
        SANDBOX_SETTINGS.braintree_public_key,
        SANDBOX_SETTINGS.braintree_private_key,
    )
    assert ours == sample["bt_signature"]
    event = verifier().parse(sample["bt_signature"], sample["bt_payload"])
    assert (event.kind, event.transaction_id) == ("transaction_settled", "txn123")


def test_settlement_webhooks_delivered_and_verified(
    bt: BraintreeGateway,
    bt_url: str,
    webhook_receiver: WebhookReceiver,
) -> None:
    control(bt_url, "faults", {"webhook_url": webhook_receiver.url, "webhook_duplicate_rate": 1.0})
    payment = bt.authorize(new_payment(1_500, capture_now=True))
    control(bt_url, "settle", {})
    events = wait_for_events(
        webhook_receiver,
        lambda seen: (
            sum(e.transaction_id == payment.reference for e in seen) >= 2
            and any(payment.reference in e.transaction_ids for e in seen)
        ),
    )  # settled + disbursement, each twice
    settled = [e for e in events if e.kind == "transaction_settled"]
    assert {e.transaction_id for e in settled} >= {payment.reference}
    mine = [e for e in settled if e.transaction_id == payment.reference]
    assert len(mine) == 2 and mine[0].event_id == mine[1].event_id  # a duplicate, same id
    assert mine[0].order_id == payment.payment_id and mine[0].transaction_status == "settled"
    disbursements = [e for e in events if e.kind == "disbursement"]
    assert disbursements and payment.reference in disbursements[0].transaction_ids


def test_settlement_declined_webhook(
    bt: BraintreeGateway,
    bt_url: str,
    webhook_receiver: WebhookReceiver,
) -> None:
    control(bt_url, "faults", {"webhook_url": webhook_receiver.url})
    payment = bt.authorize(new_payment(1_700, capture_now=True))
    # The SDK's own TestingGateway drives the sandbox's settlement simulation.
    result = bt._gw.testing.settlement_decline_transaction(payment.reference)
    assert result.is_success and result.transaction.status == "settlement_declined"
    events = wait_for_events(
        webhook_receiver, lambda seen: any(e.transaction_id == payment.reference for e in seen)
    )
    mine = [e for e in events if e.transaction_id == payment.reference]
    assert mine[0].kind == "transaction_settlement_declined"
    assert bt.retrieve(payment.reference).decline_code == "settlement_declined"


def sample() -> dict[str, str]:
    return notify.notification(
        "transaction_settled",
        "transaction",
        {"id": "abc", "status": "settled", "amount": "1.00", "currency_iso_code": "USD"},
        public_key=SANDBOX_SETTINGS.braintree_public_key,
        private_key=SANDBOX_SETTINGS.braintree_private_key,
    )


def test_tampered_body_rejected() -> None:
    fields = sample()
    xml = base64.decodebytes(fields["bt_payload"].encode()).replace(b"1.00", b"9.00")
    with pytest.raises(WebhookSignatureInvalid):
        verifier().parse(fields["bt_signature"], base64.encodebytes(xml))


def test_wrong_secret_rejected() -> None:
    fields = sample()
    with pytest.raises(WebhookSignatureInvalid):
        verifier(private_key="another-private-key").parse(
            fields["bt_signature"], fields["bt_payload"]
        )
    with pytest.raises(WebhookSignatureInvalid):
        verifier(public_key="another-public-key").parse(
            fields["bt_signature"], fields["bt_payload"]
        )
    with pytest.raises(WebhookSignatureInvalid):
        verifier().parse(None, fields["bt_payload"])


def test_stale_timestamp_rejected() -> None:
    old = notify.notification(
        "transaction_settled",
        "transaction",
        {"id": "abc", "amount": "1.00"},
        public_key=SANDBOX_SETTINGS.braintree_public_key,
        private_key=SANDBOX_SETTINGS.braintree_private_key,
        timestamp=datetime.now(UTC) - timedelta(hours=1),
    )
    with pytest.raises(WebhookSignatureInvalid):
        verifier().parse(old["bt_signature"], old["bt_payload"])
    lenient = verifier()
    event = lenient.parse(
        old["bt_signature"], old["bt_payload"], now=datetime.now(UTC) - timedelta(hours=1)
    )
    assert event.transaction_id == "abc"
