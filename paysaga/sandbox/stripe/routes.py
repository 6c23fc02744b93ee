"""The Stripe API operations the sandbox serves: method, path, accepted parameters.

Each operation reads its form parameters and calls the state machine (or search);
`route` finds the operation for a request. The server runs it under the
Idempotency-Key rules and renders the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paysaga.sandbox.stripe import refunds, render, search
from paysaga.sandbox.stripe.errors import Obj, StripeApiError, invalid
from paysaga.sandbox.stripe.form import get_bool, get_dict, get_int, get_list, get_str
from paysaga.sandbox.stripe.state import StripeState

Handler = Callable[[StripeState, dict[str, Any], tuple[str, ...]], Obj]


@dataclass(frozen=True)
class Op:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    params: frozenset[str]  # accepted top-level parameters


def _create_customer(s: StripeState, p: dict[str, Any], _: tuple[str, ...]) -> Obj:
    customer = s.create_customer(get_str(p, "email"), get_str(p, "name"), get_dict(p, "metadata"))
    pm = get_str(p, "payment_method")
    if pm is not None:
        attached = s.attach(pm, customer["id"])
        s.set_default_payment_method(customer["id"], attached["id"])
        customer = s.customer(customer["id"])
    return customer


def _attach(s: StripeState, p: dict[str, Any], g: tuple[str, ...]) -> Obj:
    return s.attach(g[0], get_str(p, "customer", required=True) or "")


def _create_intent(s: StripeState, p: dict[str, Any], _: tuple[str, ...]) -> Obj:
    return s.create_intent(
        amount=get_int(p, "amount", required=True) or 0,
        currency=(get_str(p, "currency", required=True) or "").lower(),
        payment_method=get_str(p, "payment_method"),
        customer=get_str(p, "customer"),
        capture_method=get_str(p, "capture_method") or "automatic",
        confirm=get_bool(p, "confirm"),
        metadata=get_dict(p, "metadata"),
        description=get_str(p, "description"),
        payment_method_types=get_list(p, "payment_method_types"),
    )


def _search_intents(s: StripeState, p: dict[str, Any], _: tuple[str, ...]) -> Obj:
    found = search.search_intents(s, get_str(p, "query", required=True) or "")
    limit = get_int(p, "limit") or 10
    return render.search_page(found, "/v1/payment_intents/search", limit)


def _list_intents(s: StripeState, p: dict[str, Any], _: tuple[str, ...]) -> Obj:
    return search.page(search.list_intents(s, get_str(p, "customer")), "/v1/payment_intents", p)


def _list_balance(s: StripeState, p: dict[str, Any], _: tuple[str, ...]) -> Obj:
    created_raw = p.get("created") or {}
    if not isinstance(created_raw, dict):
        raise invalid("created must be a hash", param="created")
    created = {
        k: get_int(created_raw, k) or 0 for k in created_raw if k in ("gt", "gte", "lt", "lte")
    }
    found = search.list_balance(s, created, get_str(p, "type"))
    return search.page(found, "/v1/balance_transactions", p)


def _create_refund(s: StripeState, p: dict[str, Any], _: tuple[str, ...]) -> Obj:
    return refunds.create_refund(
        s,
        payment_intent=get_str(p, "payment_intent"),
        charge=get_str(p, "charge"),
        amount=get_int(p, "amount"),
        meta=get_dict(p, "metadata"),
    )


_LIST = frozenset({"limit", "starting_after", "ending_before"})
OPS: list[Op] = [
    Op(
        "POST",
        re.compile(r"/v1/customers"),
        _create_customer,
        frozenset({"email", "name", "metadata", "payment_method", "description"}),
    ),
    Op(
        "GET",
        re.compile(r"/v1/customers/(cus_\w+|[^/]+)"),
        lambda s, p, g: s.customer(g[0]),
        frozenset(),
    ),
    Op(
        "POST",
        re.compile(r"/v1/customers/([^/]+)/sources"),
        lambda s, p, g: s.add_bank_source(g[0], get_str(p, "source", required=True) or ""),
        frozenset({"source", "metadata"}),
    ),
    Op("POST", re.compile(r"/v1/payment_methods/([^/]+)/attach"), _attach, frozenset({"customer"})),
    Op(
        "GET",
        re.compile(r"/v1/payment_methods/([^/]+)"),
        lambda s, p, g: s.payment_method(g[0]),
        frozenset(),
    ),
    Op(
        "POST",
        re.compile(r"/v1/payment_intents"),
        _create_intent,
        frozenset(
            {
                "amount",
                "currency",
                "payment_method",
                "customer",
                "capture_method",
                "confirm",
                "metadata",
                "description",
                "payment_method_types",
                "off_session",
                "mandate_data",
                "return_url",
                "setup_future_usage",
                "statement_descriptor",
            }
        ),
    ),
    Op(
        "GET",
        re.compile(r"/v1/payment_intents/search"),
        _search_intents,
        frozenset({"query", "limit", "page"}),
    ),
    Op(
        "GET",
        re.compile(r"/v1/payment_intents"),
        _list_intents,
        _LIST | {"customer", "created"},
    ),
    Op(
        "GET",
        re.compile(r"/v1/payment_intents/([^/]+)"),
        lambda s, p, g: s.intent(g[0]),
        frozenset({"client_secret"}),
    ),
    Op(
        "POST",
        re.compile(r"/v1/payment_intents/([^/]+)/capture"),
        lambda s, p, g: s.capture(g[0], get_int(p, "amount_to_capture")),
        frozenset({"amount_to_capture", "metadata"}),
    ),
    Op(
        "POST",
        re.compile(r"/v1/payment_intents/([^/]+)/cancel"),
        lambda s, p, g: s.cancel(g[0], get_str(p, "cancellation_reason")),
        frozenset({"cancellation_reason"}),
    ),
    Op("GET", re.compile(r"/v1/charges/([^/]+)"), lambda s, p, g: s.charge(g[0]), frozenset()),
    Op(
        "POST",
        re.compile(r"/v1/refunds"),
        _create_refund,
        frozenset({"payment_intent", "charge", "amount", "metadata", "reason"}),
    ),
    Op(
        "GET",
        re.compile(r"/v1/refunds/([^/]+)"),
        lambda s, p, g: refunds.refund(s, g[0]),
        frozenset(),
    ),
    Op(
        "GET",
        re.compile(r"/v1/balance_transactions"),
        _list_balance,
        _LIST | {"created", "type", "source", "payout", "currency"},
    ),
]


def route(method: str, path: str) -> tuple[Op, tuple[str, ...]]:
    for op in OPS:
        match = op.pattern.fullmatch(path)
        if match and op.method == method:
            return op, match.groups()
    raise StripeApiError(
        404, "invalid_request_error", f"Unrecognized request URL ({method}: {path})."
    )
