"""The Stripe sandbox's control API (`/__sandbox/*`): faults, settlement, tampering, stats."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from paysaga.sandbox.control import UNATTRIBUTED, faults_endpoint, payment_row
from paysaga.sandbox.stripe import settlement
from paysaga.sandbox.stripe.errors import Obj, StripeApiError, error_response
from paysaga.sandbox.stripe.state import StripeState

if TYPE_CHECKING:
    from paysaga.sandbox.stripe.server import StripeSandbox


def routes(sandbox: StripeSandbox) -> list[Route]:
    async def settle(request: Request) -> Response:
        data = await _json_or_empty(request)
        cutoff = time.time()
        if data.get("before"):
            cutoff = datetime.fromisoformat(str(data["before"])).timestamp()
        count = settlement.settle(sandbox.state, cutoff)
        sandbox.dispatch_events(None)
        return JSONResponse({"settled": count})

    async def tamper(request: Request) -> Response:
        data = await _json_or_empty(request)
        try:
            result = settlement.tamper(
                sandbox.state,
                str(data.get("reference", "")),
                str(data.get("action", "")),
                int(data.get("delta_minor", 1)),
            )
        except StripeApiError as exc:
            return error_response(exc)
        return JSONResponse(result)

    async def ach_return(request: Request) -> Response:
        data = await _json_or_empty(request)
        try:
            result = settlement.ach_return(
                sandbox.state, str(data.get("reference", "")), str(data.get("code", "R01"))
            )
        except StripeApiError as exc:
            return error_response(exc)
        sandbox.dispatch_events(None)
        return JSONResponse(result)

    async def clock(request: Request) -> Response:
        """`POST {"advance_business_days": 4, "advance_days": 0, "ach_business_days": 4}`
        moves the sandbox clock (and may set the ACH settlement window), then settles what
        is due; `GET` reads it."""
        clock = sandbox.state.clock
        if request.method == "POST":
            data = await _json_or_empty(request)
            try:
                business_days = int(data.get("advance_business_days", 0))
                days = int(data.get("advance_days", 0))
                window = int(data.get("ach_business_days", clock.ach_business_days))
            except (TypeError, ValueError):
                return JSONResponse({"error": "clock fields are integers"}, status_code=400)
            if min(business_days, days, window) < 0:
                return JSONResponse({"error": "clock fields are not negative"}, status_code=400)
            with sandbox.state.lock:
                clock.ach_business_days = window
                clock.advance(business_days=business_days, days=days)
            settled = settlement.settle(sandbox.state, time.time())
            sandbox.dispatch_events(None)
        else:
            settled = 0
        now = datetime.fromtimestamp(clock.now(), UTC).isoformat()
        return JSONResponse(
            {"now": now, "ach_business_days": clock.ach_business_days, "settled": settled}
        )

    async def stats(_: Request) -> Response:
        body = stats_body(sandbox.state)
        body["faults"] = dict(sandbox.injector.counts)
        body["webhooks_delivered"] = len(sandbox.sender.records)
        return JSONResponse(body)

    return [
        Route("/__sandbox/faults", faults_endpoint(sandbox.injector), methods=["GET", "POST"]),
        Route("/__sandbox/settle", settle, methods=["POST"]),
        Route("/__sandbox/tamper", tamper, methods=["POST"]),
        Route("/__sandbox/ach_return", ach_return, methods=["POST"]),
        Route("/__sandbox/clock", clock, methods=["GET", "POST"]),
        Route("/__sandbox/stats", stats, methods=["GET"]),
    ]


def stats_body(state: StripeState) -> Obj:
    with state.lock:
        s = state.stats
        return {
            "payment_intents_created": s.payment_intents_created,
            "charges_created": s.charges_created,
            "refunds_created": s.refunds_created,
            "idempotent_replays": s.idempotent_replays,
            "webhooks_queued": s.webhooks_queued,
            "captured_minor": dict(s.captured_minor),
            "refunded_minor": dict(s.refunded_minor),
            "intents_per_payment_id": dict(s.intents_per_payment_id),
            "successful_charges_per_payment_id": dict(s.successful_charges_per_payment_id),
            "balance_transactions": len(state.balance),
            "by_payment_id": _by_payment_id(state),
        }


def _by_payment_id(state: StripeState) -> dict[str, Obj]:
    """Per payment (intent metadata): what the gateway itself holds, for audits."""
    out: dict[str, Obj] = {}
    for intent in state.intents.values():
        payment_id = intent["metadata"].get("payment_id") or UNATTRIBUTED
        row = out.setdefault(payment_id, payment_row())
        captured = state.stats.captured_minor.get(intent["id"], 0)
        row["captured_charges"] += captured > 0
        row["captured_minor"] += captured
        row["refunded_minor"] += state.stats.refunded_minor.get(intent["id"], 0)
        row["open_authorizations"] += intent["status"] == "requires_capture"
    return out


async def _json_or_empty(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    return data if isinstance(data, dict) else {}
