"""Stripe's objects as they go on the wire: new customers, payment methods, intents, ...

Each function builds a fresh JSON-ready dict with Stripe's keys, in Stripe's order;
the state machine keeps these dicts and changes their fields as the object moves on.
"""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Callable
from typing import Any

from paysaga.sandbox.stripe.errors import Obj

Lookup = Callable[[str], Obj | None]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def customer(email: str | None, name: str | None, meta: dict[str, str]) -> Obj:
    return {
        "id": new_id("cus"),
        "object": "customer",
        "created": int(time.time()),
        "email": email,
        "name": name,
        "metadata": meta,
        "livemode": False,
        "invoice_settings": {"default_payment_method": None},
        "default_source": None,
    }


def card_payment_method(brand: str, last4: str, customer_id: str) -> Obj:
    """The PaymentMethod that attaching a test card to a customer makes."""
    return {
        "id": new_id("pm"),
        "object": "payment_method",
        "type": "card",
        "created": int(time.time()),
        "customer": customer_id,
        "livemode": False,
        "metadata": {},
        "card": {
            "brand": brand,
            "last4": last4,
            "exp_month": 12,
            "exp_year": 2034,
            "funding": "credit",
            "country": "US",
        },
    }


def magic_card(ident: str, brand: str, last4: str) -> Obj:
    """A test card (`pm_card_visa`, ...) read before anyone attached it."""
    return {
        "id": ident,
        "object": "payment_method",
        "type": "card",
        "customer": None,
        "created": 0,
        "livemode": False,
        "metadata": {},
        "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034},
    }


def bank_account(customer_id: str) -> Obj:
    return {
        "id": new_id("ba"),
        "object": "bank_account",
        "account_holder_type": "individual",
        "bank_name": "STRIPE TEST BANK",
        "country": "US",
        "currency": "usd",
        "customer": customer_id,
        "last4": "6789",
        "routing_number": "110000000",
        "status": "verified",
        "metadata": {},
    }


def payment_intent(
    *,
    amount: int,
    currency: str,
    payment_method: str | None,
    customer: str | None,
    capture_method: str,
    metadata: dict[str, str],
    description: str | None,
    payment_method_types: list[str],
) -> Obj:
    intent: Obj = {
        "id": new_id("pi"),
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": 0,
        "capture_method": capture_method,
        "cancellation_reason": None,
        "canceled_at": None,
        "client_secret": None,
        "created": int(time.time()),
        "currency": currency,
        "customer": customer,
        "description": description,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": metadata,
        "next_action": None,
        "payment_method": payment_method,
        "payment_method_types": payment_method_types or ["card"],
        "status": "requires_payment_method" if payment_method is None else "requires_confirmation",
    }
    intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(8)}"
    return intent


def charge(intent: Obj, status: str) -> Obj:
    return {
        "id": new_id("ch"),
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": 0,
        "amount_refunded": 0,
        "balance_transaction": None,
        "captured": False,
        "created": int(time.time()),
        "currency": intent["currency"],
        "customer": intent["customer"],
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": dict(intent["metadata"]),
        "outcome": None,
        "paid": status == "succeeded",
        "payment_intent": intent["id"],
        "payment_method": intent["payment_method"],
        "refunded": False,
        "status": status,
    }


def refund(amount: int, charge: Obj, meta: dict[str, str]) -> Obj:
    return {
        "id": new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge["id"],
        "created": int(time.time()),
        "currency": charge["currency"],
        "failure_balance_transaction": None,
        "failure_reason": None,
        "metadata": meta,
        "payment_intent": charge["payment_intent"],
        "reason": None,
        "status": "succeeded",
    }


def balance_transaction(type_: str, amount: int, fee: int, source: Obj) -> Obj:
    now = int(time.time())
    return {
        "id": new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": now,
        "created": now,
        "currency": source["currency"],
        "description": None,
        "fee": fee,
        "net": amount - fee,
        "reporting_category": type_,
        "source": source["id"],
        "status": "available",
        "type": type_,
    }


def list_page(data: list[Obj], url: str, limit: int) -> Obj:
    return {"object": "list", "url": url, "has_more": len(data) > limit, "data": data[:limit]}


def search_page(found: list[Obj], url: str, limit: int) -> Obj:
    return {
        "object": "search_result",
        "url": url,
        "has_more": len(found) > limit,
        "next_page": None,
        "data": found[:limit],
    }


def expand(obj: Obj, paths: list[str], lookup: Lookup) -> Obj:
    """Replace id fields named by `expand[]` paths with the objects they name."""
    out = copy.deepcopy(obj)
    for path in paths:
        _expand_path(out, path.split("."), lookup)
    return out


def _expand_path(node: Any, parts: list[str], lookup: Lookup) -> None:
    if not parts or not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    if head == "data" and isinstance(node.get("data"), list):
        for item in node["data"]:
            _expand_path(item, rest, lookup)
        return
    value = node.get(head)
    if isinstance(value, str) and not rest:
        target = lookup(value)
        if target is not None:
            node[head] = copy.deepcopy(target)
    elif isinstance(value, dict):
        _expand_path(value, rest, lookup)
