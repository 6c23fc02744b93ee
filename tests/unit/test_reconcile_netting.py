"""Reconciliation's pure parts: netting (a capture refunded in full before settlement
nets to zero: the gateway voided it), balanced settlement entries, failed refunds, and
what Stripe calls settled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe

from activities.reconciliation import ledger_item
from ledger.types import LegResult, StoredEntry
from paysaga.domain.reconciliation import ExceptionKind, LedgerItem, SettledItem
from paysaga.domain.settlement_fees import settlement_legs
from paysaga.domain.settlement_matching import match_settlements
from paysaga.gateways import stripe_settlement


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


# ------------------------------------------ settlement entries (issue 13, defect 10)


@pytest.mark.parametrize("kind", ["charge", "refund", "refund_failure"])
@pytest.mark.parametrize(("amount", "fee"), [(1000, 59), (50, 59), (30, 30), (400, 0), (400, -5)])
def test_settlement_legs_balance_whatever_the_fee(kind: str, amount: int, fee: int) -> None:
    legs = settlement_legs(kind, amount, fee)
    debits = sum(leg.amount_minor for leg in legs if leg.direction == "debit")
    credits = sum(leg.amount_minor for leg in legs if leg.direction == "credit")
    assert debits == credits > 0
    assert all(leg.amount_minor > 0 for leg in legs)
    assert len({leg.role for leg in legs}) == len(legs)


def test_a_fee_above_the_sale_takes_cash() -> None:
    legs = {
        leg.role: (leg.direction, leg.amount_minor) for leg in settlement_legs("charge", 50, 59)
    }
    assert legs == {"receivable": ("credit", 50), "fees": ("debit", 59), "cash": ("credit", 9)}


# ------------------------------------------ failed refunds (Stripe refund_failure)


def _settled(kind: str, amount: int, refund: str) -> SettledItem:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    return SettledItem("stripe", "pi_1", "p1", kind, amount, 0, "USD", at, refund_reference=refund)


def _booked(kind: str, amount: int, entry: str, refund: str | None = None) -> LedgerItem:
    return LedgerItem("stripe", "pi_1", "p1", kind, amount, "USD", entry, refund)


def test_a_refund_failure_matches_the_ledger_unbooking() -> None:
    gateway = (_settled("refund", 400, "re_1"), _settled("refund_failure", 400, "re_1"))
    ledger = (_booked("refund", 400, "0-2", "re_1"), _booked("refund_failure", 400, "0-3", "re_1"))
    result = match_settlements("stripe", gateway, ledger)
    assert result.exceptions == ()
    assert sorted(m.item.kind for m in result.matched) == ["refund", "refund_failure"]


def test_a_refund_failure_the_ledger_still_books_is_an_exception() -> None:
    gateway = (_settled("refund", 400, "re_1"), _settled("refund_failure", 400, "re_1"))
    result = match_settlements("stripe", gateway, (_booked("refund", 400, "0-2", "re_1"),))
    [missing] = result.exceptions
    assert (missing.kind, missing.actual_minor) == (ExceptionKind.MISSING_IN_LEDGER, 400)
    assert "refund failed" in missing.detail


def test_a_refund_that_failed_before_settling_nets_out() -> None:
    ledger = (_booked("refund", 400, "0-2", "re_1"), _booked("refund_failure", 400, "0-3", "re_1"))
    assert match_settlements("stripe", (), ledger).exceptions == ()


def test_the_ledger_unbooking_of_a_failed_refund_is_a_ledger_item() -> None:
    leg = LegResult(
        "gateway_receivable:stripe:USD:s0", "debit", "USD", 400, 0, 0, "debit", 0, 0, 0, 0, 1
    )
    entry = StoredEntry(
        "0-3", 0, "standard", "k", datetime.now(UTC), datetime.now(UTC), "",
        {"kind": "refund_failure", "payment_id": "p1", "gateway": "stripe",
         "gateway_reference": "pi_1", "refund_reference": "re_1"},
        None, None, (leg,),
    )  # fmt: skip
    item = ledger_item(entry)
    assert item is not None
    assert (item.kind, item.refund_reference, item.amount_minor) == ("refund_failure", "re_1", 400)


# ------------------------------------------ Stripe: settled means available (defect 14)


def _txn(type_: str, created: datetime, available: datetime, status: str, amount: int) -> Any:
    """A balance transaction as the SDK hands it over (source and its charge expanded)."""
    charge: dict[str, Any] = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1"}
    charge["metadata"] = {"payment_id": "p1"}
    refund = {"id": "re_1", "object": "refund", "payment_intent": "pi_1", "charge": charge}
    values = {
        "id": "txn_1",
        "object": "balance_transaction",
        "type": type_,
        "status": status,
        "created": int(created.timestamp()),
        "available_on": int(available.timestamp()),
        "amount": amount,
        "fee": 59 if type_ == "charge" else 0,
        "currency": "usd",
        "source": charge if type_ == "charge" else refund,
    }
    return stripe.StripeObject.construct_from(values, "sk_test_unit")


DAY = datetime(2026, 1, 10, tzinfo=UTC)
NEXT = DAY + timedelta(days=1)


def test_stripe_settled_is_available_in_the_period_not_created() -> None:
    captured_before = _txn(
        "charge", DAY - timedelta(days=2), DAY + timedelta(hours=1), "available", 1000
    )
    item = stripe_settlement.settled_in(captured_before, DAY, NEXT)
    assert (
        item is not None and item.kind == "charge" and item.settled_at == DAY + timedelta(hours=1)
    )
    still_pending = _txn("charge", DAY, NEXT + timedelta(days=1), "pending", 1000)
    assert stripe_settlement.settled_in(still_pending, DAY, NEXT) is None
    available_earlier = _txn(
        "charge", DAY - timedelta(days=3), DAY - timedelta(days=1), "available", 1
    )
    assert stripe_settlement.settled_in(available_earlier, DAY, NEXT) is None
    gte, lt = stripe_settlement.listing_window(DAY, NEXT)
    assert gte <= int((DAY - timedelta(days=2)).timestamp()) and lt == int(NEXT.timestamp())


def test_stripe_refund_failure_is_listed() -> None:
    txn = _txn("refund_failure", DAY, DAY, "available", 400)
    item = stripe_settlement.settled_in(txn, DAY, NEXT)
    assert item is not None
    assert (item.kind, item.reference, item.refund_reference, item.payment_id) == (
        "refund_failure", "pi_1", "re_1", "p1",
    )  # fmt: skip
    assert item.amount_minor == 400


def test_stripe_payment_is_settled_only_when_its_funds_are_available() -> None:
    assert not stripe_settlement.is_available("txn_1")  # an id: not known to be available
    assert not stripe_settlement.is_available({"status": "pending"})
    assert stripe_settlement.is_available({"status": "available"})
