"""A capture refunded in full before settlement nets to zero: the gateway voided it."""

from __future__ import annotations

from paysaga.domain.reconciliation import ExceptionKind, LedgerItem
from paysaga.domain.settlement_matching import match_settlements


def _item(pid: str, kind: str, amount: int, entry: str) -> LedgerItem:
    return LedgerItem(
        "braintree", "tx_1", pid, kind, amount, "USD", entry, "tx_1" if kind == "refund" else None
    )


def test_full_refund_before_settlement_is_not_an_exception() -> None:
    ledger = (_item("p1", "charge", 7500, "0-1"), _item("p1", "refund", 7500, "0-2"))
    result = match_settlements("braintree", (), ledger)
    assert result.exceptions == ()


def test_partial_refund_of_an_unsettled_capture_is_still_missing_at_gateway() -> None:
    ledger = (_item("p1", "charge", 7500, "0-1"), _item("p1", "refund", 2500, "0-2"))
    result = match_settlements("braintree", (), ledger)
    assert {e.kind for e in result.exceptions} == {ExceptionKind.MISSING_AT_GATEWAY}
    assert len(result.exceptions) == 2


def test_a_lone_unsettled_capture_is_missing_at_gateway() -> None:
    result = match_settlements("braintree", (), (_item("p1", "charge", 100, "0-1"),))
    assert [e.kind for e in result.exceptions] == [ExceptionKind.MISSING_AT_GATEWAY]
