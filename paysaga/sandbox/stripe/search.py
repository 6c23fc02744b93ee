"""Stripe's search and list endpoints over the sandbox state.

`search_intents` answers `GET /v1/payment_intents/search` (Stripe's query language,
the subset `field:'value' AND metadata['key']:'value'`); the list functions answer
the cursor-paginated `GET` lists. Results are copies, newest first, as Stripe sends.
Search lags behind writes (`visibility`); the lists do not: Stripe documents lists
as the read-after-write alternative (https://docs.stripe.com/search#data-freshness).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from paysaga.sandbox import visibility
from paysaga.sandbox.stripe import render
from paysaga.sandbox.stripe.errors import Obj, invalid
from paysaga.sandbox.stripe.form import get_int, get_str
from paysaga.sandbox.stripe.state import StripeState


def search_intents(state: StripeState, query: str) -> list[Obj]:
    clauses = [c.strip() for c in re.split(r"\s+AND\s+", query.strip()) if c.strip()]
    tests: list[tuple[list[str], str]] = []
    for clause in clauses:
        match = re.fullmatch(r"(metadata\['([^']+)'\]|[a-z_]+):'([^']*)'", clause)
        if not match:
            raise invalid(f"Invalid search query: {query}", param="query")
        path = ["metadata", match.group(2)] if match.group(2) else [match.group(1)]
        tests.append((path, match.group(3)))
    with state.lock:
        found = [
            copy.deepcopy(pi)
            for pi in state.intents.values()
            if all(_dig(pi, path) == value for path, value in tests)
            and visibility.searchable(pi["id"], state.created_precise.get(pi["id"]))
        ]
    return sorted(found, key=lambda pi: pi["created"], reverse=True)


def list_intents(state: StripeState, customer: str | None) -> list[Obj]:
    with state.lock:
        return [
            copy.deepcopy(pi)
            for pi in reversed(state.intents.values())
            if customer is None or pi["customer"] == customer
        ]


def list_balance(state: StripeState, created: dict[str, int], type_: str | None) -> list[Obj]:
    def keep(txn: Obj) -> bool:
        at = txn["created"]
        return (
            ("gte" not in created or at >= created["gte"])
            and ("gt" not in created or at > created["gt"])
            and ("lt" not in created or at < created["lt"])
            and ("lte" not in created or at <= created["lte"])
            and (type_ is None or txn["type"] == type_)
        )

    with state.lock:
        return [copy.deepcopy(t) for t in reversed(state.balance) if keep(t)]


def page(data: list[Obj], url: str, params: dict[str, Any]) -> Obj:
    """One page of a list: `limit` items after the `starting_after` id."""
    limit = get_int(params, "limit") or 10
    if not 1 <= limit <= 100:
        raise invalid("Invalid limit: must be between 1 and 100", param="limit")
    after = get_str(params, "starting_after")
    if after is not None:
        ids = [item["id"] for item in data]
        if after not in ids:
            raise invalid(f"No such object: '{after}'", param="starting_after")
        data = data[ids.index(after) + 1 :]
    return render.list_page(data, url, limit)


def _dig(obj: Obj, path: list[str]) -> Any:
    node: Any = obj
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
