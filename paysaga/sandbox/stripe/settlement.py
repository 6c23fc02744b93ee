"""Stripe settlement: captured money and refunds become balance transactions.

`settle` books what was captured or refunded before a cutoff (the server calls it
on a timer and from `POST /__sandbox/settle`) and finishes pending ACH debits;
`ach_return` fails a pending debit instead; `tamper` corrupts the balance listing
so reconciliation has something to find.
"""

from __future__ import annotations

import copy
from typing import Final

from paysaga.domain.ach_returns import FAILURE_CODES
from paysaga.sandbox.stripe import render
from paysaga.sandbox.stripe.errors import Obj, invalid, missing
from paysaga.sandbox.stripe.state import StripeState, Tamper, pop_due

# NACHA return codes -> Stripe charge failure codes (one table, in the domain).
ACH_RETURN_CODES: Final = FAILURE_CODES


def stripe_fee(amount: int) -> int:
    # 2.9% + 30, integer minor units (rounded half up).
    return (amount * 29 + 500) // 1000 + 30


def settle(state: StripeState, cutoff: float) -> int:
    """Settle captured charges and refunds made at or before `cutoff`."""
    settled = 0
    with state.lock:
        for charge_id in pop_due(state.captured_at, cutoff):
            _settle_charge(state, state.charges[charge_id])
            settled += 1
        for charge in state.charges.values():
            # An ACH debit settles by the sandbox clock, in business days (clock.py).
            submitted = state.ach_submitted_at.get(charge["id"], float(charge["created"]))
            if charge["status"] == "pending" and state.clock.ach_due(submitted):
                _settle_ach(state, charge)
                settled += 1
        for refund_id in pop_due(state.refund_pending, cutoff):
            refund = state.refunds[refund_id]
            txn = _balance_txn(state, "refund", -refund["amount"], 0, refund)
            refund["balance_transaction"] = txn["id"] if txn else None
            settled += 1
    return settled


def _settle_charge(state: StripeState, charge: Obj) -> None:
    amount = charge["amount_captured"]
    txn = _balance_txn(state, "charge", amount, stripe_fee(amount), charge)
    charge["balance_transaction"] = txn["id"] if txn else None


def _settle_ach(state: StripeState, charge: Obj) -> None:
    intent = state.intents[charge["payment_intent"]]
    charge.update(status="succeeded", captured=True, paid=True, amount_captured=charge["amount"])
    intent.update(status="succeeded", amount_received=charge["amount"])
    state.stats.captured_minor[intent["id"]] += charge["amount"]
    _settle_charge(state, charge)
    state.emit("charge.succeeded", charge)
    state.emit("payment_intent.succeeded", intent)


def _balance_txn(state: StripeState, type_: str, amount: int, fee: int, source: Obj) -> Obj | None:
    tamper = state.tampers.pop(source.get("payment_intent") or "", None)
    if tamper is not None and tamper.action == "drop":
        return None
    if tamper is not None:
        amount += tamper.delta_minor if amount >= 0 else -tamper.delta_minor
    txn = render.balance_transaction(type_, amount, fee, source)
    state.balance.append(txn)
    return txn


def tamper(state: StripeState, reference: str, action: str, delta_minor: int) -> Obj:
    """Drop or alter an intent's settled charge; one not settled yet is hit at settlement."""
    with state.lock:
        intent_id = (
            state.charges[reference]["payment_intent"] if reference in state.charges else reference
        )
        if intent_id not in state.intents:
            raise missing("payment_intent", reference, "reference")
        if action not in ("drop", "alter_amount"):
            raise invalid(f"Unknown tamper action: {action}", param="action")
        settled = [
            t
            for t in state.balance
            if t["type"] == "charge" and state.charges[t["source"]]["payment_intent"] == intent_id
        ]
        if not settled:
            state.tampers[intent_id] = Tamper(action, delta_minor)
            return {"reference": intent_id, "applied": "at_settlement"}
        for txn in settled:
            if action == "drop":
                state.balance.remove(txn)
            else:
                txn["amount"] += delta_minor
                txn["net"] = txn["amount"] - txn["fee"]
        return {"reference": intent_id, "applied": "now"}


def ach_return(state: StripeState, reference: str, code: str) -> Obj:
    """The customer's bank returns an ACH debit, pending or already settled (a return
    can come days after settlement, up to 60 days for R10): the charge fails.

    Real shapes: the charge's `failure_code` and the intent's `last_payment_error.code`
    carry Stripe's failure code (`insufficient_funds`, ...), never the R-code.
    """
    with state.lock:
        intent = state.intent_ref(reference)
        if code not in ACH_RETURN_CODES:
            raise invalid(f"Unknown ACH return code: {code}", param="code")
        charge = state.charges.get(intent["latest_charge"] or "")
        returnable = intent["status"] == "processing" or (
            intent["status"] == "succeeded" and _is_ach(state, intent) and charge is not None
        )
        if not returnable or charge is None or charge["status"] == "failed":
            raise invalid(
                f"PaymentIntent {reference} is {intent['status']}, not a returnable ACH debit.",
                code="payment_intent_unexpected_state",
            )
        failure = ACH_RETURN_CODES[code]
        message = f"The customer's bank returned the debit ({failure})."
        charge.update(status="failed", failure_code=failure, failure_message=message)
        if intent["status"] == "succeeded":
            state.stats.captured_minor[intent["id"]] -= charge["amount"]
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = {
            "type": "invalid_request_error",
            "code": failure,
            "message": message,
            "charge": charge["id"],
        }
        state.emit("charge.failed", charge)
        state.emit("payment_intent.payment_failed", intent)
        return copy.deepcopy(intent)


def _is_ach(state: StripeState, intent: Obj) -> bool:
    return intent.get("payment_method") in state.bank_accounts
