"""Braintree settlement: submitted transactions settle in daily batches.

`settle` settles what was submitted before a cutoff (the server calls it on a timer
and from `POST /__sandbox/settle`); `testing_transition` is the SDK's TestingGateway
(settle, confirm, decline, pending one transaction); `tamper` corrupts the
settlement listing so reconciliation has something to find. Under the
`refund_pending_then_failed` fault a refund (credit) stays submitted and is then
declined by the processor (`fail_refund_later`, `fail_due`): status
`settlement_declined`, settlement response 4001 "The processor declined to settle the
sale or refund request"
(https://developer.paypal.com/braintree/docs/reference/general/processor-responses/settlement-responses/).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from paysaga.sandbox.braintree.errors import ApiError, NotFound
from paysaga.sandbox.braintree.model import SETTLING_STATES, Txn
from paysaga.sandbox.braintree.state import BraintreeStore


def settle(store: BraintreeStore, before: datetime | None = None) -> list[Txn]:
    """Settle everything submitted before `before` (all when None)."""
    with store.lock:
        done = []
        for txn in store.transactions.values():
            submitted = txn.times.get("submitted_for_settlement")
            if (
                txn.status in SETTLING_STATES
                and txn.id not in store.failing_refunds
                and submitted is not None
                and (before is None or submitted <= before)
            ):
                _settle_one(store, txn)
                done.append(txn)
        return done


def _settle_one(store: BraintreeStore, txn: Txn) -> None:
    txn.move("settled", txn.amount_minor)
    settled = txn.times["settled"]
    txn.settlement_batch_id = f"{settled.date().isoformat()}_{txn.merchant_account_id}"
    txn.disbursement_date = settled.date()
    store.stats["settled"] += 1


def testing_transition(store: BraintreeStore, transaction_id: str, action: str) -> Txn:
    """The SDK's TestingGateway: settle / settlement_confirm / _decline / _pending."""
    with store.lock:
        txn = store.get(transaction_id)
        if txn.status not in SETTLING_STATES:
            raise ApiError(
                "Cannot simulate transaction settlement.",
                scope=("transaction",),
                code="91575",
            )
        if action in ("settle", "settlement_confirm"):
            _settle_one(store, txn)
        elif action == "settlement_decline":
            txn.move("settlement_declined", txn.amount_minor)
            store.stats["captured_minor"][txn.id] -= txn.amount_minor
        else:
            txn.move("settlement_pending", txn.amount_minor)
        return txn


def tamper(store: BraintreeStore, reference: str, action: str, delta_minor: int) -> dict[str, Any]:
    """Hide a transaction (id or order id) from the settled listing, or alter its amount."""
    with store.lock:
        txn = store.transactions.get(reference) or next(
            (t for t in store.transactions.values() if t.order_id == reference), None
        )
        if txn is None:
            raise NotFound(reference)
        if action == "drop":
            txn.dropped = True
        elif action == "alter_amount":
            txn.amount_minor += delta_minor
        else:
            raise ValueError(f"unknown tamper action {action!r}")
        return {"id": txn.id, "action": action, "amount_minor": txn.amount_minor}


def fail_refund_later(store: BraintreeStore, credit_id: str, fail_at: float) -> None:
    with store.lock:
        store.failing_refunds[credit_id] = fail_at


def fail_due(store: BraintreeStore, now: float) -> list[Txn]:
    """Decline the held refunds whose time has come: the money stays with the merchant."""
    with store.lock:
        declined = []
        for credit_id, at in list(store.failing_refunds.items()):
            if at > now:
                continue
            del store.failing_refunds[credit_id]
            credit = store.get(credit_id)
            credit.move("settlement_declined", credit.amount_minor)
            sale = credit.refunded_transaction_id or ""
            store.stats["refunded_minor"][sale] -= credit.amount_minor
            declined.append(credit)
        return declined
