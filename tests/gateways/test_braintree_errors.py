"""Every error class the Braintree adapter raises, produced by the sandbox through the SDK."""

# ruff: noqa: F811 - pytest fixtures imported by name, then requested as arguments

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import pytest
from braintree.util.xml_util import XmlUtil

from paysaga.gateways.braintree_gateway import BraintreeGateway
from paysaga.gateways.errors import (
    AuthenticationFailed,
    Declined,
    IdempotencyMismatch,
    InvalidRequest,
    OutcomeUnknown,
    RateLimited,
    Unavailable,
)
from paysaga.gateways.types import GatewayPaymentState
from paysaga.sandbox import testdata
from paysaga.sandbox.braintree.idempotency import IDEMPOTENCY_HEADER
from paysaga.stack.ports import free_port
from tests.gateways.braintree_fixtures import (  # noqa: F401 - fixtures
    bt,
    bt_url,
    make_gateway,
    new_payment,
    raw_post,
    stats,
)
from tests.gateways.conftest import control

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("payment_method", "amount", "decline_code", "soft"),
    [
        (testdata.BRAINTREE_NONCE_HARD_DECLINE, 1_000, "do_not_honor", False),
        (testdata.BRAINTREE_NONCE_SOFT_DECLINE, 1_000, "insufficient_funds", True),
        (testdata.BRAINTREE_NONCE_SUCCESS, 200_400, "expired_card", False),  # test amount 2004
        (testdata.BRAINTREE_NONCE_SUCCESS, 204_600, "try_again_later", True),  # test amount 2046
        (testdata.BRAINTREE_NONCE_REQUIRES_ACTION, 1_000, "three_d_secure", False),
        ("fake-gateway-rejected-fraud-nonce", 1_000, "fraud", False),
    ],
)
def test_declines(
    bt: BraintreeGateway,
    payment_method: str,
    amount: int,
    decline_code: str,
    soft: bool,
) -> None:
    request = new_payment(amount, payment_method=payment_method)
    with pytest.raises(Declined) as caught:
        bt.authorize(request)
    assert (caught.value.decline_code, caught.value.soft) == (decline_code, soft)
    assert not caught.value.retryable
    # The declined sale is visible to lookup, as a failed payment.
    found = bt.lookup(request.payment_id)
    assert found is not None and found.state is GatewayPaymentState.FAILED
    assert found.decline_code == decline_code


def test_soft_decline_then_success_for_dunning(bt: BraintreeGateway) -> None:
    request = new_payment(1_000, payment_method=testdata.BRAINTREE_NONCE_SOFT_THEN_SUCCESS)
    for attempt in (1, 2):
        with pytest.raises(Declined) as caught:
            bt.authorize(replace(request, idempotency_key=f"{request.payment_id}:try{attempt}"))
        assert caught.value.soft
    payment = bt.authorize(replace(request, idempotency_key=f"{request.payment_id}:try3"))
    assert payment.state is GatewayPaymentState.AUTHORIZED


def test_processor_failure_is_retryable(bt: BraintreeGateway) -> None:
    with pytest.raises(Unavailable):
        bt.authorize(new_payment(payment_method=testdata.BRAINTREE_NONCE_PROCESSOR_FAILURE))


def test_validation_errors_are_invalid_requests(bt: BraintreeGateway) -> None:
    with pytest.raises(InvalidRequest) as caught:
        bt.authorize(new_payment(payment_method="vtok_not_in_the_vault"))
    assert caught.value.field == "payment_method_token"
    with pytest.raises(InvalidRequest):
        bt.authorize(new_payment(payment_method="not-a-known-nonce"))
    with pytest.raises(InvalidRequest):
        bt.authorize(new_payment(currency="XXX"))


def test_unknown_ids_are_resource_missing(bt: BraintreeGateway) -> None:
    for call in (
        lambda: bt.retrieve("doesnotexist"),
        lambda: bt.capture(f"k-{uuid.uuid4()}", "doesnotexist"),
        lambda: bt.cancel(f"k-{uuid.uuid4()}", "doesnotexist"),
        lambda: bt.refund(f"k-{uuid.uuid4()}", "doesnotexist", 100),
    ):
        with pytest.raises(InvalidRequest) as caught:
            call()
        assert (caught.value.code, caught.value.http_status) == ("resource_missing", 404)


def test_wrong_credentials(bt_url: str) -> None:
    gateway = make_gateway(bt_url, private_key="wrong")
    with pytest.raises(AuthenticationFailed) as caught:
        gateway.authorize(new_payment())
    assert caught.value.http_status == 401
    other = make_gateway(bt_url, merchant_id="someone_else")
    with pytest.raises(AuthenticationFailed):
        other.retrieve("abc")


def test_rate_limited_carries_retry_after(bt: BraintreeGateway, bt_url: str) -> None:
    control(bt_url, "faults", {"rate_limit_rate": 1.0, "retry_after_s": 7})
    with pytest.raises(RateLimited) as caught:
        bt.authorize(new_payment())
    assert caught.value.retry_after == 7.0 and caught.value.retryable


def test_server_error_is_unavailable(bt: BraintreeGateway, bt_url: str) -> None:
    control(bt_url, "faults", {"error_rate": 1.0})
    with pytest.raises(Unavailable):
        bt.retrieve("anything")


def test_connection_refused_is_unavailable() -> None:
    gateway = make_gateway(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Unavailable):
        gateway.authorize(new_payment())


def test_timeout_after_success_is_outcome_unknown_and_lookup_resolves(bt_url: str) -> None:
    gateway = make_gateway(bt_url, timeout_s=0.5)
    control(bt_url, "faults", {"timeout_after_success_rate": 1.0, "timeout_hang_s": 1.0})
    request = new_payment(4_321)
    before = stats(bt_url)["charges_created"]
    with pytest.raises(OutcomeUnknown) as caught:
        gateway.authorize(request)
    assert not caught.value.retryable
    control(bt_url, "faults", {})
    found = gateway.lookup(request.payment_id)
    assert found is not None and found.amount_minor == 4_321
    assert gateway.authorize(request).reference == found.reference  # no second charge
    assert stats(bt_url)["charges_created"] == before + 1
    assert stats(bt_url)["charges_by_order_id"][request.payment_id] == 1
    time.sleep(0.6)  # let the withheld response finish before the next test


_SALE = (
    b"<transaction><type>sale</type><amount>5.00</amount>"
    b"<payment_method_nonce>fake-valid-nonce</payment_method_nonce></transaction>"
)


def test_idempotency_header_is_ignored_by_default_like_the_real_gateway(bt_url: str) -> None:
    # Braintree's API has no idempotency header (braintree_python util/http.py sends
    # none): the same sale sent twice with one key is two sales.
    before = stats(bt_url)
    first = raw_post(bt_url, "/transactions", _SALE, **{IDEMPOTENCY_HEADER: "raw-key-0"})
    second = raw_post(bt_url, "/transactions", _SALE, **{IDEMPOTENCY_HEADER: "raw-key-0"})
    assert first.status_code == second.status_code == 201
    ids = {XmlUtil.dict_from_xml(r.content)["transaction"]["id"] for r in (first, second)}
    assert len(ids) == 2
    after = stats(bt_url)
    assert after["charges_created"] == before["charges_created"] + 2
    assert after["idempotent_replays"] == before["idempotent_replays"]


def test_opt_in_idempotency_header_replays_and_mismatches(bt_url: str) -> None:
    control(bt_url, "faults", {"braintree_idempotency_header": True})
    first = raw_post(bt_url, "/transactions", _SALE, **{IDEMPOTENCY_HEADER: "raw-key-1"})
    replayed_before = stats(bt_url)["idempotent_replays"]
    second = raw_post(bt_url, "/transactions", _SALE, **{IDEMPOTENCY_HEADER: "raw-key-1"})
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert stats(bt_url)["idempotent_replays"] == replayed_before + 1
    other = raw_post(
        bt_url,
        "/transactions",
        _SALE.replace(b"5.00", b"6.00"),
        **{IDEMPOTENCY_HEADER: "raw-key-1"},
    )
    assert other.status_code == 422


def test_adapter_refuses_a_key_reused_for_another_payment_with_opt_in_header(
    bt: BraintreeGateway, bt_url: str
) -> None:
    # Only the opt-in header replay catches this: the real gateway would make a second
    # sale under the new payment's order id (the adapter's lookup is by order id).
    control(bt_url, "faults", {"braintree_idempotency_header": True})
    request = new_payment(1_000)
    bt.authorize(request)
    with pytest.raises(IdempotencyMismatch):
        bt.authorize(replace(new_payment(2_000), idempotency_key=request.idempotency_key))


def test_malformed_bodies_get_api_error_responses(bt_url: str) -> None:
    for body in (
        b"<transaction><amount>",
        b"not xml at all",
        b'<!DOCTYPE x [<!ENTITY a "b">]><x/>',
    ):
        response = raw_post(bt_url, "/transactions", body)
        assert response.status_code == 422
        parsed = XmlUtil.dict_from_xml(response.content)  # what the SDK would read
        assert parsed["api_error_response"]["message"]
    bad_amount = raw_post(
        bt_url,
        "/transactions",
        b"<transaction><type>sale</type><amount>1.234</amount>"
        b"<payment_method_nonce>fake-valid-nonce</payment_method_nonce></transaction>",
    )
    errors = XmlUtil.dict_from_xml(bad_amount.content)["api_error_response"]["errors"]
    assert errors["transaction"]["errors"][0]["code"] == "81503"
    assert raw_post(bt_url, "/transactions/nope/refund", b"").status_code == 404
