"""The Braintree sandbox behaves as the real gateway where it is unkind (sandbox/README.md).

Transaction search lags behind writes while find by id does not; a late success
finishes after the client gave up; a capture can succeed with its answer lost; a
refund can be declined at settlement; a 201 can carry a body that drifted.
"""

# ruff: noqa: F811 - pytest fixtures imported by name, then requested as arguments

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import braintree
import httpx
import pytest
from braintree.util.xml_util import XmlUtil

from paysaga.gateways.braintree_http import environment
from paysaga.sandbox.braintree.faults import DRIFTING_FIELDS
from paysaga.sandbox.drift import drifted_fields
from tests.gateways.braintree_fixtures import bt_url, raw_post, stats  # noqa: F401
from tests.gateways.conftest import SANDBOX_SETTINGS, control

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sdk(bt_url: str) -> Iterator[Any]:
    """The official SDK itself, no adapter in between."""
    yield braintree.BraintreeGateway(
        braintree.Configuration(
            environment=environment(bt_url),
            merchant_id=SANDBOX_SETTINGS.braintree_merchant_id,
            public_key=SANDBOX_SETTINGS.braintree_public_key,
            private_key=SANDBOX_SETTINGS.braintree_private_key,
        )
    )


def sale(sdk: Any, order_id: str, settle: bool = False) -> Any:
    result = sdk.transaction.sale(
        {
            "amount": "12.00",
            "payment_method_nonce": "fake-valid-nonce",
            "order_id": order_id,
            "options": {"submit_for_settlement": settle},
        }
    )
    assert result.is_success
    return result.transaction


def by_order_id(sdk: Any, order_id: str) -> list[Any]:
    return list(sdk.transaction.search(braintree.TransactionSearch.order_id == order_id).items)


def slow_request(bt_url: str, method: str, path: str, body: bytes = b"") -> None:
    """A request whose client gives up after 0.5 s."""
    s = SANDBOX_SETTINGS
    httpx.request(
        method,
        f"{bt_url}/merchants/{s.braintree_merchant_id}{path}",
        content=body,
        auth=(s.braintree_public_key, s.braintree_private_key),
        headers={"Content-Type": "application/xml", "X-ApiVersion": "6"},
        timeout=0.5,
    )


def test_search_misses_a_fresh_sale_until_the_lag_passes(sdk: Any, bt_url: str) -> None:
    control(bt_url, "faults", {"search_lag_s": 1.0})
    order_id = f"pay_{uuid.uuid4().hex[:12]}"
    txn = sale(sdk, order_id)
    assert by_order_id(sdk, order_id) == []
    assert sdk.transaction.find(txn.id).status == "authorized"  # find by id: consistent
    time.sleep(1.1)
    assert [t.id for t in by_order_id(sdk, order_id)] == [txn.id]


def test_late_success_times_out_and_the_sale_appears_later(sdk: Any, bt_url: str) -> None:
    control(bt_url, "faults", {"late_success_rate": 1.0, "timeout_hang_s": 1.0})
    order_id = f"pay_{uuid.uuid4().hex[:12]}"
    body = (
        b"<transaction><type>sale</type><amount>7.00</amount>"
        b"<payment_method_nonce>fake-valid-nonce</payment_method_nonce>"
        b"<order_id>" + order_id.encode() + b"</order_id></transaction>"
    )
    with pytest.raises(httpx.TimeoutException):
        slow_request(bt_url, "POST", "/transactions", body)
    control(bt_url, "faults", {})
    assert by_order_id(sdk, order_id) == []  # nothing happened yet
    time.sleep(1.0)
    assert [t.amount for t in by_order_id(sdk, order_id)] == [pytest.approx(7)]


def test_capture_timeout_after_success(sdk: Any, bt_url: str) -> None:
    txn = sale(sdk, f"pay_{uuid.uuid4().hex[:12]}")
    control(bt_url, "faults", {"capture_timeout_after_success_rate": 1.0, "timeout_hang_s": 1.0})
    assert sale(sdk, f"pay_{uuid.uuid4().hex[:12]}").status == "authorized"  # sales unharmed
    with pytest.raises(httpx.TimeoutException):
        slow_request(bt_url, "PUT", f"/transactions/{txn.id}/submit_for_settlement")
    control(bt_url, "faults", {})
    assert sdk.transaction.find(txn.id).status == "submitted_for_settlement"
    time.sleep(0.6)  # let the withheld answer finish before the next test


def test_refund_pending_then_declined_at_settlement(sdk: Any, bt_url: str) -> None:
    order_id = f"pay_{uuid.uuid4().hex[:12]}"
    txn = sale(sdk, order_id, settle=True)
    control(bt_url, "settle", {})
    control(bt_url, "faults", {"refund_pending_then_failed_rate": 1.0, "refund_fail_after_s": 0.4})
    result = sdk.transaction.refund(txn.id)
    assert result.is_success and result.transaction.status == "submitted_for_settlement"
    credit_id = result.transaction.id
    control(bt_url, "faults", {})
    control(bt_url, "settle", {})
    assert sdk.transaction.find(credit_id).status == "submitted_for_settlement"  # not settled

    deadline = time.monotonic() + 5
    while (credit := sdk.transaction.find(credit_id)).status != "settlement_declined":
        assert time.monotonic() < deadline, "refund never declined"
        time.sleep(0.1)
    assert credit.processor_settlement_response_code == "4001"
    assert stats(bt_url)["by_payment_id"][order_id]["refunded_minor"] == 0
    again = sdk.transaction.refund(txn.id)  # the money is back: it can be refunded again
    assert again.is_success and again.transaction.amount == txn.amount


def test_malformed_response_after_the_side_effect(sdk: Any, bt_url: str) -> None:
    control(bt_url, "faults", {"malformed_response_rate": 1.0, "seed": 5})
    body = (
        b"<transaction><type>sale</type><amount>9.00</amount>"
        b"<payment_method_nonce>fake-valid-nonce</payment_method_nonce></transaction>"
    )
    response = raw_post(bt_url, "/transactions", body)
    control(bt_url, "faults", {})
    assert response.status_code == 201
    drifted = XmlUtil.dict_from_xml(response.content)["transaction"]
    real = XmlUtil.dict_from_xml(
        httpx.get(
            f"{bt_url}/merchants/{SANDBOX_SETTINGS.braintree_merchant_id}"
            f"/transactions/{drifted['id']}",
            auth=(SANDBOX_SETTINGS.braintree_public_key, SANDBOX_SETTINGS.braintree_private_key),
        ).content
    )["transaction"]
    assert real["status"] == "authorized"  # the sale was made
    changed = drifted_fields(real, drifted, DRIFTING_FIELDS)
    assert len(changed) == 1, changed
