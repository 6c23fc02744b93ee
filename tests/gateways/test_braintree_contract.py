"""The Braintree adapter through the official SDK against the sandbox: every operation."""

# ruff: noqa: F811 - pytest fixtures imported by name, then requested as arguments

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from paysaga.gateways.base import CardGateway
from paysaga.gateways.braintree_gateway import BraintreeGateway
from paysaga.gateways.errors import IdempotencyMismatch, InvalidRequest, Unavailable
from paysaga.gateways.types import GatewayPaymentState
from paysaga.sandbox import testdata
from tests.gateways.braintree_fixtures import (  # noqa: F401 - fixtures
    bt,
    bt_url,
    new_payment,
    own_braintree_sandbox,
    stats,
)
from tests.gateways.conftest import SANDBOX_SETTINGS, control

pytestmark = pytest.mark.timeout(60)
# Keys unique to this run: the session-wide sandbox remembers every key it saw.
K = uuid.uuid4().hex


def test_authorize_capture_settle_refund(bt: BraintreeGateway, bt_url: str) -> None:
    request = new_payment(12_345)
    payment = bt.authorize(request)
    assert payment.state is GatewayPaymentState.AUTHORIZED
    assert (payment.amount_minor, payment.captured_minor, payment.currency) == (12_345, 0, "USD")
    assert payment.payment_id == request.payment_id

    captured = bt.capture(f"{request.idempotency_key}:capture", payment.reference)
    assert captured.state is GatewayPaymentState.CAPTURED
    assert captured.captured_minor == 12_345

    control(bt_url, "settle", {})
    assert bt.retrieve(payment.reference).state is GatewayPaymentState.SETTLED

    first = bt.refund(f"{K}:refund-1", payment.reference, 2_345)
    second = bt.refund(f"{K}:refund-2", payment.reference, 10_000)
    # A credit moves money once it settles: until then it is pending (issue 13).
    assert (first.amount_minor, first.status, first.payment_reference) == (
        2_345,
        "pending",
        payment.reference,
    )
    assert second.reference != first.reference
    after = bt.retrieve(payment.reference)
    assert after.refunded_minor == 12_345  # committed to leave: counted while pending
    control(bt_url, "settle", {})
    assert bt.retrieve_refund(first.reference).status == "succeeded"
    with pytest.raises(InvalidRequest):
        bt.refund(f"{K}:refund-3", payment.reference, 1)  # nothing left to refund


def test_partial_capture_keeps_authorized_amount(bt: BraintreeGateway) -> None:
    request = new_payment(10_000)
    payment = bt.authorize(request)
    captured = bt.capture(f"{K}:capture", payment.reference, 7_550)
    assert (captured.amount_minor, captured.captured_minor) == (10_000, 7_550)
    # A repeat of the same capture is answered from the transaction's state.
    again = bt.capture(f"{K}:capture", payment.reference, 7_550)
    assert again.captured_minor == 7_550
    with pytest.raises(IdempotencyMismatch):
        bt.capture(f"{K}:capture-other", payment.reference, 5_000)


def test_capture_now_and_cancel(bt: BraintreeGateway) -> None:
    sale = bt.authorize(new_payment(500, capture_now=True))
    assert sale.state is GatewayPaymentState.CAPTURED

    held = bt.authorize(new_payment(800))
    canceled = bt.cancel(f"{K}:cancel", held.reference)
    assert canceled.state is GatewayPaymentState.CANCELED
    assert bt.cancel(f"{K}:cancel", held.reference).state is GatewayPaymentState.CANCELED
    with pytest.raises(InvalidRequest) as caught:
        bt.capture(f"{K}:capture-held", held.reference)
    assert not isinstance(caught.value, IdempotencyMismatch)


def test_refund_before_settlement(bt: BraintreeGateway) -> None:
    payment = bt.authorize(new_payment(2_500, capture_now=True))
    with pytest.raises(Unavailable) as partial:
        bt.refund(f"{K}:partial", payment.reference, 100)
    assert partial.value.retryable and partial.value.retry_after
    # A full refund of unsettled money is a void: the customer is never charged.
    full = bt.refund(f"{K}:full", payment.reference, 2_500)
    assert (full.status, full.amount_minor) == ("succeeded", 2_500)
    assert bt.retrieve(payment.reference).state is GatewayPaymentState.CANCELED
    assert bt.refund(f"{K}:full", payment.reference, 2_500) == full


def test_zero_and_three_decimal_currencies(bt: BraintreeGateway) -> None:
    yen = bt.authorize(new_payment(1_500, currency="JPY"))
    dinar = bt.authorize(new_payment(1_234, currency="BHD"))
    assert (yen.amount_minor, yen.currency) == (1_500, "JPY")
    assert (dinar.amount_minor, dinar.currency) == (1_234, "BHD")
    assert bt.capture(f"{K}:dinar", dinar.reference, 1_001).captured_minor == 1_001


def test_vault_customer_and_charge_token(bt: BraintreeGateway, bt_url: str) -> None:
    vaulted = bt.vault_customer(
        f"{K}:vault",
        email="ada@example.com",
        name="Ada Lovelace",
        payment_method=testdata.BRAINTREE_NONCE_VISA,
    )
    assert vaulted.payment_method_ref.startswith("vtok_")
    again = bt.vault_customer(
        f"{K}:vault",
        email="ada@example.com",
        name="Ada Lovelace",
        payment_method=testdata.BRAINTREE_NONCE_VISA,
    )
    assert again == vaulted
    # Without the sandbox's header replay the derived ids still collide safely.
    plain = BraintreeGateway(
        merchant_id=SANDBOX_SETTINGS.braintree_merchant_id,
        public_key=SANDBOX_SETTINGS.braintree_public_key,
        private_key=SANDBOX_SETTINGS.braintree_private_key,
        base_url=bt_url,
        send_idempotency_header=False,
    )
    assert (
        plain.vault_customer(
            f"{K}:vault",
            email="ada@example.com",
            name="Ada Lovelace",
            payment_method=testdata.BRAINTREE_NONCE_VISA,
        )
        == vaulted
    )
    assert stats(bt_url)["customers_created"] >= 1

    payment = bt.authorize(
        new_payment(
            4_200, payment_method=vaulted.payment_method_ref, customer_ref=vaulted.customer_ref
        )
    )
    assert payment.state is GatewayPaymentState.AUTHORIZED

    token = json.loads(base64.b64decode(bt.client_token(vaulted.customer_ref)))
    assert token["merchantId"] == SANDBOX_SETTINGS.braintree_merchant_id
    assert token["authorizationFingerprint"]


def test_lookup_by_payment_id(bt: BraintreeGateway) -> None:
    request = new_payment(999)
    assert bt.lookup(request.payment_id) is None
    payment = bt.authorize(request)
    found = bt.lookup(request.payment_id)
    assert found is not None and found.reference == payment.reference
    # authorize again (a retry after an unknown outcome) finds, never re-charges
    assert bt.authorize(request).reference == payment.reference


def test_list_settled_with_fees_refunds_and_tampering(
    bt: BraintreeGateway,
    bt_url: str,
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    kept, dropped, altered = (
        bt.authorize(new_payment(n, capture_now=True)) for n in (10_000, 2_000, 3_000)
    )
    control(bt_url, "settle", {})
    bt.refund(f"{K}:settled-refund", kept.reference, 1_000)
    control(bt_url, "settle", {})
    control(bt_url, "tamper", {"reference": dropped.reference, "action": "drop"})
    control(
        bt_url,
        "tamper",
        {"reference": altered.payment_id, "action": "alter_amount", "delta_minor": 7},
    )
    rows = bt.list_settled(start, datetime.now(UTC) + timedelta(seconds=2))
    mine = {kept.reference, dropped.reference, altered.reference}
    by_kind = {(r.reference, r.kind): r for r in rows if r.reference in mine}
    charge = by_kind[(kept.reference, "charge")]
    assert (charge.amount_minor, charge.fee_minor, charge.payment_id) == (
        10_000,
        320,
        kept.payment_id,
    )
    refund = by_kind[(kept.reference, "refund")]
    assert (refund.amount_minor, refund.payment_id, refund.fee_minor) == (
        1_000,
        kept.payment_id,
        0,
    )
    assert refund.refund_reference and refund.refund_reference != kept.reference
    assert (dropped.reference, "charge") not in by_kind
    assert by_kind[(altered.reference, "charge")].amount_minor == 3_007
    assert all(r.settled_at.tzinfo is not None for r in rows)
    # A window that ends before settlement sees none of them.
    assert not [
        r for r in bt.list_settled(start - timedelta(hours=1), start) if r.reference in mine
    ]


def test_automatic_settlement_after_delay() -> None:
    settings = SANDBOX_SETTINGS.__class__(settle_after_s=0.3)
    with own_braintree_sandbox(settings) as url:
        gateway = BraintreeGateway(
            merchant_id=settings.braintree_merchant_id,
            public_key=settings.braintree_public_key,
            private_key=settings.braintree_private_key,
            base_url=url,
        )
        payment = gateway.authorize(new_payment(700, capture_now=True))
        assert payment.state is GatewayPaymentState.CAPTURED
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while gateway.retrieve(payment.reference).state is not GatewayPaymentState.SETTLED:
            assert datetime.now(UTC) < deadline, "never settled"
            time.sleep(0.05)
        assert stats(url)["settled"] == 1
        gateway.close()


def test_payment_methods_endpoint_through_the_sdk(bt: BraintreeGateway) -> None:
    vaulted = bt.vault_customer(
        f"{K}:vault-pm",
        email="grace@example.com",
        name="Grace Hopper",
        payment_method=testdata.BRAINTREE_NONCE_VISA,
    )
    sdk = bt._gw  # the adapter's own SDK gateway, pointed at the sandbox
    created = sdk.payment_method.create(
        {
            "customer_id": vaulted.customer_ref,
            "payment_method_nonce": "fake-valid-mastercard-nonce",
            "token": f"vtok_{K[:20]}",
        }
    )
    assert created.is_success and created.payment_method.card_type == "MasterCard"
    found = sdk.payment_method.find(f"vtok_{K[:20]}")
    assert found.customer_id == vaulted.customer_ref
    customer = sdk.customer.find(vaulted.customer_ref)
    assert len(customer.payment_methods) == 2
    payment = bt.authorize(
        new_payment(300, payment_method=f"vtok_{K[:20]}", customer_ref=vaulted.customer_ref)
    )
    assert payment.state is GatewayPaymentState.AUTHORIZED


def test_adapter_satisfies_the_protocol(bt: BraintreeGateway) -> None:
    assert isinstance(bt, CardGateway)
    assert bt.name == "braintree"


def test_full_refund_when_settlement_wins_the_race_with_the_void(
    bt: BraintreeGateway, bt_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = bt.authorize(new_payment(3_100, capture_now=True))
    stale = bt._find(payment.reference)  # read while submitted_for_settlement
    control(bt_url, "settle", {})  # ...then the batch settles it before our void
    reads = iter([stale])
    real_find = bt._find
    monkeypatch.setattr(bt, "_find", lambda ref: next(reads, None) or real_find(ref))
    refund = bt.refund(f"{K}:raced", payment.reference, 3_100)
    # A credit, pending until it settles (a void would be succeeded at once).
    assert (refund.status, refund.amount_minor) == ("pending", 3_100)
    assert refund.reference != payment.reference  # a refund transaction, not a void
    assert bt.refund(f"{K}:raced", payment.reference, 3_100) == refund


def test_lookup_of_one_attempt_by_creation_time(bt: BraintreeGateway) -> None:
    """An attempt's lookup keeps only sales created since it began (issue 13, defect 2):
    an earlier attempt's sale of the same order id is not this attempt's."""
    from datetime import UTC, datetime, timedelta

    request = new_payment(998)
    payment = bt.authorize(request)
    before = datetime.now(UTC) - timedelta(minutes=5)
    later = datetime.now(UTC) + timedelta(minutes=5)
    found = bt.lookup(request.payment_id, since=before)
    assert found is not None and found.reference == payment.reference
    assert bt.lookup(request.payment_id, since=later) is None
