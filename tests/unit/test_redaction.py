from __future__ import annotations

import io
import json

import structlog

from paysaga.config.logging import configure_logging
from paysaga.security.redaction import MASK, redact_mapping, redact_text


def test_card_numbers_are_masked_but_other_numbers_kept() -> None:
    text = "card 4242 4242 4242 4242 and 4000-0000-0000-0002, order 1234567890123"
    out = redact_text(text)
    assert "4242 4242 4242 4242" not in out and "[PAN ****4242]" in out
    assert "4000-0000-0000-0002" not in out
    assert "1234567890123" in out  # not Luhn-valid: an order number, kept


def test_credentials_are_masked() -> None:
    out = redact_text(
        "keys sk_live_abcdef123456 rk_test_zzzzzz123 whsec_abc123456 "
        "access-sandbox-8ab976e6-64bc-4b38-98f7 Bearer eyJhbGciOiJIUzI1NiJ9.x.y"
    )
    for leaked in ("abcdef123456", "zzzzzz123", "whsec_abc123456", "8ab976e6", "eyJhbGci"):
        assert leaked not in out


def test_sensitive_keys_are_masked_whole() -> None:
    out = redact_mapping(
        {
            "plaid_access_token": "anything",
            "nested": {"api_key": "k"},
            "idempotency_key": "p-1:auth",
        }
    )
    assert out["plaid_access_token"] == MASK
    assert out["nested"]["api_key"] == MASK
    assert out["idempotency_key"] == "p-1:auth"


def test_structlog_output_is_redacted() -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream)
    log = structlog.get_logger().bind(payment_id="pay_1")
    log.info("charging", card="4242424242424242", stripe_key="sk_test_123456789abc")
    try:
        raise RuntimeError("gateway said token access-sandbox-1234567890ab is bad")
    except RuntimeError:
        log.exception("failed")
    configure_logging("json", "INFO")  # later tests must not log into this closed-over buffer
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    dump = stream.getvalue()
    assert "4242424242424242" not in dump
    assert "sk_test_123456789abc" not in dump
    assert "access-sandbox-1234567890ab" not in dump
    assert lines[0]["payment_id"] == "pay_1"
