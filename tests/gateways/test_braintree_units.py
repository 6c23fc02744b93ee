"""Pure pieces of the Braintree adapter and sandbox: amounts, decline table, XML, config."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from braintree.util.xml_util import XmlUtil
from hypothesis import given
from hypothesis import strategies as st

from paysaga.domain.errors import ConfigurationError
from paysaga.domain.money import (
    CURRENCY_EXPONENTS,
    MAX_AMOUNT_MINOR,
    decimal_to_minor,
    minor_to_decimal,
)
from paysaga.domain.settlement_fees import FeeSchedule
from paysaga.gateways.braintree_errors import IDEMPOTENCY_MISMATCH_CODE
from paysaga.gateways.braintree_http import IDEMPOTENCY_HEADER, environment
from paysaga.gateways.declines import BRAINTREE_PROCESSOR_CODES, Decline, braintree_decline
from paysaga.sandbox.braintree import idempotency as sandbox_idempotency
from paysaga.sandbox.braintree.amounts import parse_amount
from paysaga.sandbox.braintree.errors import ApiError
from paysaga.sandbox.braintree.xml_codec import Array, Collection, MalformedXml, dumps, loads


@given(st.integers(1, MAX_AMOUNT_MINOR), st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_amounts_round_trip_exactly(amount_minor: int, currency: str) -> None:
    text = minor_to_decimal(amount_minor, currency)
    assert decimal_to_minor(text, currency) == amount_minor
    assert parse_amount(text, currency, ()) == amount_minor  # the sandbox agrees


def test_amount_strings() -> None:
    assert minor_to_decimal(1000, "USD") == "10.00"
    assert minor_to_decimal(5, "USD") == "0.05"
    assert minor_to_decimal(1500, "JPY") == "1500"
    assert minor_to_decimal(1234, "BHD") == "1.234"
    with pytest.raises(ApiError):
        parse_amount("1.5", "JPY", ())  # yen has no minor digits


def test_processor_codes_map_to_soft_and_hard_declines() -> None:
    def processor(code: str) -> Decline:
        return braintree_decline("processor_declined", code, None)

    assert processor("2001") == ("insufficient_funds", True)
    assert processor("2000") == ("do_not_honor", False)
    assert processor("2999") == ("processor_declined", False)  # unlisted: hard
    assert braintree_decline("failed", "2000", None) == ("processing_error", True)
    assert braintree_decline("gateway_rejected", "", "fraud") == ("fraud", False)
    soft = {code for code in BRAINTREE_PROCESSOR_CODES if processor(code).soft}
    assert soft == {"2001", "2002", "2003", "2038", "2044", "2046"}


def test_fee_schedule() -> None:
    fees = FeeSchedule()
    assert fees.fee(10_000) == 320  # 2.9% + 30
    assert fees.fee(1_000) == 59
    assert fees.fee(17) == 30  # 0.49 rounds down


def test_adapter_and_sandbox_agree_on_idempotency_contract() -> None:
    assert IDEMPOTENCY_HEADER == sandbox_idempotency.IDEMPOTENCY_HEADER
    assert IDEMPOTENCY_MISMATCH_CODE == sandbox_idempotency.IDEMPOTENCY_MISMATCH_CODE


def test_xml_the_sdk_reads() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    body = dumps(
        "credit_card_transactions",
        Collection(
            {"page_size": 50},
            "transaction",
            [
                {
                    "id": "a&b",
                    "refund_ids": ["r1", "r2"],
                    "status_history": Array("status_event", [{"status": "authorized"}]),
                    "order_id": None,
                    "voided": False,
                    "created_at": when,
                    "disbursement_date": date(2024, 5, 7),
                },
                {"id": "second", "refund_ids": []},
            ],
        ),
    )
    parsed = XmlUtil.dict_from_xml(body)["credit_card_transactions"]
    first, second = parsed["transaction"]
    assert first["id"] == "a&b" and first["refund_ids"] == ["r1", "r2"]
    assert first["status_history"] == [{"status": "authorized"}]
    assert first["order_id"] is None and first["voided"] is False
    assert first["created_at"] == when.replace(tzinfo=None)
    assert second["refund_ids"] == []
    assert parsed["page_size"] == 50


def test_xml_the_sdk_writes() -> None:
    params = {"transaction": {"amount": "10.00", "options": {"submit_for_settlement": True}}}
    root, value = loads(XmlUtil.xml_from_dict(params).encode())
    assert root == "transaction"
    assert value == {"amount": "10.00", "options": {"submit_for_settlement": True}}
    with pytest.raises(MalformedXml):
        loads(b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>')


def test_environment_from_url() -> None:
    local = environment("http://127.0.0.1:12112")
    assert local.base_url == "http://127.0.0.1:12112" and not local.is_ssl
    assert environment("sandbox").server == "api.sandbox.braintreegateway.com"
    with pytest.raises(ConfigurationError):
        environment("https://example.com:8443")  # the SDK cannot do https off 443
    with pytest.raises(ConfigurationError):
        environment("ftp://example.com")


def test_a_credit_is_pending_until_settled_and_failed_once_declined() -> None:
    """A credit in submitted_for_settlement has moved no money yet, and a declined one
    never will (chaos seed 577881577: both were read as succeeded)."""
    from types import SimpleNamespace

    from paysaga.gateways import braintree_records as records

    def credit(status: str) -> object:
        return SimpleNamespace(
            id="cr_1",
            status=status,
            refunded_transaction_id="sale_1",
            amount="10.00",
            currency_iso_code="USD",
        )

    statuses = {
        s: records.refund(credit(s)).status
        for s in ("submitted_for_settlement", "settling", "settled", "settlement_declined")
    }
    assert statuses == {
        "submitted_for_settlement": "pending",
        "settling": "pending",
        "settled": "succeeded",
        "settlement_declined": "failed",
    }
