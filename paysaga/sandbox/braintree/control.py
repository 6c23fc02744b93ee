"""The Braintree sandbox's control API (`/__sandbox/*`): faults, settlement, tampering, stats."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from paysaga.sandbox.braintree import settlement
from paysaga.sandbox.braintree.errors import NotFound
from paysaga.sandbox.control import UNATTRIBUTED, faults_endpoint, payment_row

if TYPE_CHECKING:
    from paysaga.sandbox.braintree.server import BraintreeSandbox


def routes(sandbox: BraintreeSandbox) -> list[Route]:
    async def settle(request: Request) -> Response:
        raw = await request.body()
        before = None
        try:
            data = json.loads(raw) if raw.strip() else {}
            if data.get("before"):
                before = datetime.fromisoformat(str(data["before"]))
                if before.tzinfo is None:
                    before = before.replace(tzinfo=UTC)
        except (ValueError, AttributeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        settled = sandbox.settle(before)
        return JSONResponse({"settled": [t.id for t in settled]})

    async def tamper(request: Request) -> Response:
        try:
            data = await request.json()
            result = settlement.tamper(
                sandbox.store,
                str(data["reference"]),
                str(data["action"]),
                int(data.get("delta_minor", 1)),
            )
        except NotFound:
            return JSONResponse({"error": "no such transaction"}, status_code=404)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(result)

    async def stats(request: Request) -> Response:
        return JSONResponse(stats_body(sandbox))

    return [
        Route("/__sandbox/faults", faults_endpoint(sandbox.injector), methods=["GET", "POST"]),
        Route("/__sandbox/settle", settle, methods=["POST"]),
        Route("/__sandbox/tamper", tamper, methods=["POST"]),
        Route("/__sandbox/stats", stats, methods=["GET"]),
    ]


def stats_body(sandbox: BraintreeSandbox) -> dict[str, Any]:
    store = sandbox.store
    with store.lock:
        by_order: dict[str, int] = {}
        for txn in store.transactions.values():
            captured = store.stats["captured_minor"].get(txn.id, 0)
            if txn.type == "sale" and captured:
                by_order[txn.order_id or ""] = by_order.get(txn.order_id or "", 0) + captured
        return {
            "charges_created": store.stats["charges_created"],
            "charges_by_order_id": dict(store.stats["charges_by_order_id"]),
            "captured_minor": dict(store.stats["captured_minor"]),
            "captured_minor_by_order_id": by_order,
            "refunds": store.stats["refunds"],
            "refunded_minor": dict(store.stats["refunded_minor"]),
            "declines": store.stats["declines"],
            "captures": store.stats["captures"],
            "voids": store.stats["voids"],
            "settled": store.stats["settled"],
            "customers_created": store.stats["customers_created"],
            "idempotent_replays": sandbox.counters["idempotent_replays"],
            "webhooks_queued": sandbox.counters["webhooks_queued"],
            "faults": dict(sandbox.injector.counts),
            "by_payment_id": _by_payment_id(sandbox),
        }


def _by_payment_id(sandbox: BraintreeSandbox) -> dict[str, Any]:
    """Per payment (a sale's order_id is our payment id): what the gateway holds."""
    store = sandbox.store
    out: dict[str, dict[str, int]] = {}
    for txn in store.transactions.values():
        if txn.type != "sale":
            continue
        row = out.setdefault(txn.order_id or UNATTRIBUTED, payment_row())
        # A capture voided before settlement was charged and given back in full
        # (how Braintree reverses it), so it counts as captured and as refunded.
        submitted = [a for status, a, _ in txn.history if status == "submitted_for_settlement"]
        captured = submitted[-1] if submitted else 0
        voided = captured if txn.status == "voided" else 0
        row["captured_charges"] += captured > 0
        row["captured_minor"] += captured
        row["refunded_minor"] += store.stats["refunded_minor"].get(txn.id, 0) + voided
        row["open_authorizations"] += txn.status == "authorized"
    return out
