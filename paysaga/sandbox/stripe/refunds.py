"""Stripe refunds: giving back captured money, in full or in parts.

A refund succeeds at once and waits in `state.refund_pending` until settlement books
its balance transaction. Under the `refund_pending_then_failed` fault (`failing`) it is
created `pending` instead, and its `refund.created` event says so, as Stripe's does for
a refund still in flight (https://docs.stripe.com/api/refunds/object#refund_object-status);
it fails later (`fail_due`), as a card refund can
when the card was closed: status `failed`, a `refund_failure` balance transaction
giving the money back to the balance, `refund.failed` / `charge.refund.updated`
events (https://docs.stripe.com/refunds, failed refunds;
https://docs.stripe.com/api/refunds/object#refund_object-failure_reason).
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator
from contextvars import ContextVar

from paysaga.sandbox.stripe import render
from paysaga.sandbox.stripe.errors import Obj, invalid, missing
from paysaga.sandbox.stripe.state import StripeState, pop_due

# When a refund created in this context fails (the fault), or None: it succeeds.
_fails_at: ContextVar[float | None] = ContextVar("stripe_refund_fails_at", default=None)


@contextlib.contextmanager
def failing(fail_at: float | None) -> Iterator[None]:
    """Refunds created inside are pending and fail at `fail_at` (when not None)."""
    token = _fails_at.set(fail_at)
    try:
        yield
    finally:
        _fails_at.reset(token)


def create_refund(
    state: StripeState,
    *,
    payment_intent: str | None,
    charge: str | None,
    amount: int | None,
    meta: dict[str, str],
) -> Obj:
    with state.lock:
        if payment_intent:
            intent = state.intent_ref(payment_intent)
            charge = intent["latest_charge"]
            if charge is None:
                raise invalid(
                    "This PaymentIntent does not have a successful charge to refund.",
                    code="charge_not_refundable",
                    param="payment_intent",
                )
        if not charge:
            raise invalid(
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
                param="payment_intent",
            )
        if charge not in state.charges:
            raise missing("charge", charge, "charge")
        ch = state.charges[charge]
        if not (ch["captured"] and ch["status"] == "succeeded"):
            raise invalid(
                f"Charge {charge} has not been captured and cannot be refunded.",
                code="charge_not_refundable",
                param="charge",
            )
        remaining = ch["amount_captured"] - ch["amount_refunded"]
        if remaining <= 0:
            raise invalid(
                f"Charge {charge} has already been refunded.", code="charge_already_refunded"
            )
        amount = remaining if amount is None else amount
        if amount < 1 or amount > remaining:
            raise invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining})",
                code="amount_too_large",
                param="amount",
            )
        refund = render.refund(amount, ch, meta)
        fail_at = _fails_at.get()
        if fail_at is not None:  # pending from the start: no event may say succeeded
            refund["status"] = "pending"
            state.refund_failures[refund["id"]] = fail_at
        state.refunds[refund["id"]] = refund
        ch["amount_refunded"] += amount
        ch["refunded"] = ch["amount_refunded"] == ch["amount_captured"]
        state.refund_pending[refund["id"]] = time.time()  # settlement books it later
        state.stats.refunds_created += 1
        state.stats.refunded_minor[ch["payment_intent"]] += amount
        state.emit("refund.created", refund)
        state.emit("charge.refunded", ch)
        return copy.deepcopy(refund)


def refund(state: StripeState, ident: str) -> Obj:
    with state.lock:
        if ident not in state.refunds:
            raise missing("refund", ident)
        return copy.deepcopy(state.refunds[ident])


def fail_due(state: StripeState, now: float) -> int:
    """Fail the held refunds whose time has come; how many failed."""
    with state.lock:
        due = pop_due(state.refund_failures, now)
        for ident in due:
            _fail(state, state.refunds[ident])
    return len(due)


def _fail(state: StripeState, refund: Obj) -> None:
    amount = refund["amount"]
    if state.refund_pending.pop(refund["id"], None) is not None:
        # Stripe booked the refund when it was made; its failure books the way back.
        booked = render.balance_transaction("refund", -amount, 0, refund)
        state.balance.append(booked)
        refund["balance_transaction"] = booked["id"]
    back = render.balance_transaction("refund_failure", amount, 0, refund)
    state.balance.append(back)
    refund.update(
        status="failed",
        failure_reason="expired_or_canceled_card",
        failure_balance_transaction=back["id"],
    )
    charge = state.charges[refund["charge"]]
    charge["amount_refunded"] -= amount
    charge["refunded"] = False
    state.stats.refunded_minor[charge["payment_intent"]] -= amount
    state.emit("refund.updated", refund)
    state.emit("refund.failed", refund)
    state.emit("charge.refund.updated", refund)
