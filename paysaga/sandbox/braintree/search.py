"""Braintree's transaction search: `advanced_search_ids`, then `advanced_search` by ids.

The SDK first asks for the ids matching its criteria, then fetches them in pages;
both requests carry the criteria, so a transaction that stopped matching in
between drops out of the second answer, as on the real gateway. A new transaction
is found only after the search visibility lag (`visibility`); `find` by id is not
lagged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from paysaga.sandbox import visibility
from paysaga.sandbox.braintree.errors import ApiError
from paysaga.sandbox.braintree.model import Txn
from paysaga.sandbox.braintree.render import Result
from paysaga.sandbox.braintree.state import BraintreeStore
from paysaga.sandbox.braintree.xml_codec import Collection

SEARCH_PAGE_SIZE = 50

# Searchable `*_at` fields -> the status whose time they are ("_created": creation).
_TIMES = {
    "created_at": "_created",
    "settled_at": "settled",
    "submitted_for_settlement_at": "submitted_for_settlement",
    "voided_at": "voided",
    "authorized_at": "authorized",
}


def search_ids(store: BraintreeStore, criteria: dict[str, Any]) -> Result:
    with store.lock:
        ids = [t.id for t in store.transactions.values() if _visible(t) and _matches(t, criteria)]
    return Result(200, "search_results", {"page_size": SEARCH_PAGE_SIZE, "ids": ids})


def search(store: BraintreeStore, criteria: dict[str, Any]) -> Result:
    with store.lock:
        ids = criteria.get("ids") or []
        matching = [store.transactions[i] for i in ids if i in store.transactions]
        found = [store.render_txn(t) for t in matching if _visible(t) and _matches(t, criteria)]
    body: dict[str, Any] = {
        "current_page_number": 1,
        "page_size": SEARCH_PAGE_SIZE,
        "total_items": len(found),
    }
    # Repeated <transaction> children: the SDK's parser collects them into a list.
    return Result(200, "credit_card_transactions", Collection(body, "transaction", found))


def _visible(txn: Txn) -> bool:
    return visibility.searchable(txn.id, txn.created_ts)


def _matches(txn: Txn, criteria: dict[str, Any]) -> bool:
    for name, condition in criteria.items():
        if name == "ids":
            if txn.id not in (condition or []):
                return False
        elif name in ("id", "order_id", "customer_id", "payment_method_token"):
            value = {
                "id": txn.id,
                "order_id": txn.order_id,
                "customer_id": txn.card.customer_id,
                "payment_method_token": txn.card.token,
            }[name]
            if not _text_matches(value, condition):
                return False
        elif name in ("status", "type", "merchant_account_id"):
            value = {
                "status": txn.status,
                "type": txn.type,
                "merchant_account_id": txn.merchant_account_id,
            }[name]
            if value not in (condition or []):
                return False
        elif name.endswith("_at"):
            status = _TIMES.get(name)
            if status is None:
                raise ApiError(f"Unsupported search field {name}.", code="91799")
            when = txn.created_at if status == "_created" else txn.times.get(status)
            if name == "settled_at" and txn.dropped:
                return False
            if when is None or not _in_range(when, condition):
                return False
        else:
            raise ApiError(f"Unsupported search field {name}.", attribute=name, code="91799")
    return True


def _text_matches(value: str | None, condition: object) -> bool:
    if not isinstance(condition, dict):
        return value == condition
    text = value or ""
    for op, expected in condition.items():
        ok = {
            "is": text == expected,
            "is_not": text != expected,
            "starts_with": text.startswith(str(expected)),
            "ends_with": text.endswith(str(expected)),
            "contains": str(expected) in text,
        }.get(op)
        if not ok:
            return False
    return True


def _in_range(when: datetime, condition: object) -> bool:
    if not isinstance(condition, dict):
        return False
    low, high, exact = condition.get("min"), condition.get("max"), condition.get("is")
    if isinstance(exact, datetime) and when != exact:
        return False
    if isinstance(low, datetime) and when < low:
        return False
    return not (isinstance(high, datetime) and when > high)
