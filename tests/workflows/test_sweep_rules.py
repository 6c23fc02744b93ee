"""The sweep's decisions for a closed payment workflow's charges against its ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from paysaga.domain.sweep import Action, GatewayObject, Reason
from paysaga.domain.sweep_rules import judge_closed, orphan

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def obj(
    ref: str, state: str, amount: int = 1000, refunded: int = 0, age_s: int = 0
) -> GatewayObject:
    captured = amount if state in ("captured", "settled") else 0
    return GatewayObject(
        gateway="stripe",
        reference=ref,
        payment_id="payment-p1",
        state=state,
        amount_minor=amount,
        captured_minor=captured,
        refunded_minor=refunded,
        currency="USD",
        created_at=T0 + timedelta(seconds=age_s),
    )


def decided(objects: list[GatewayObject], booked: int) -> dict[str, tuple[Reason, Action]]:
    return {f.reference: (f.reason, f.action) for f in judge_closed(objects, booked)}


def test_booked_charge_is_left() -> None:
    assert decided([obj("a", "settled")], 1000) == {"a": (Reason.BOOKED, Action.NONE)}


def test_captured_but_never_booked_is_refunded() -> None:
    # An auto-capture during a ledger outage: the payment ended FAILED, the charge stood.
    assert decided([obj("a", "captured")], 0) == {"a": (Reason.CAPTURED_NOT_BOOKED, Action.REFUND)}


def test_authorization_of_a_closed_workflow_is_voided() -> None:
    assert decided([obj("a", "authorized")], 0) == {
        "a": (Reason.AUTHORIZED_WITHOUT_WORKFLOW, Action.VOID)
    }


def test_extra_charge_next_to_the_booked_one_is_refunded() -> None:
    # A lagging lookup sent a second sale: the ledger explains the first only.
    found = decided([obj("b", "settled", age_s=5), obj("a", "settled")], 1000)
    assert found == {
        "a": (Reason.BOOKED, Action.NONE),
        "b": (Reason.DUPLICATE_CHARGE, Action.REFUND),
    }


def test_partial_refund_booked_on_both_sides_is_consistent() -> None:
    assert decided([obj("a", "settled", refunded=400)], 600) == {"a": (Reason.BOOKED, Action.NONE)}


def test_unexplained_difference_is_left_for_a_person() -> None:
    assert decided([obj("a", "settled")], 300) == {"a": (Reason.LEDGER_MISMATCH, Action.MANUAL)}


def test_orphans_are_voided_or_refunded_by_state() -> None:
    assert orphan(obj("a", "authorized")).action is Action.VOID
    assert orphan(obj("a", "settled")).action is Action.REFUND
    assert orphan(obj("a", "processing")).action is Action.MANUAL
