"""Local Stripe API (v1 subset) that the official `stripe` SDK talks to unchanged.

Per request: added latency, API-key check, fault dice (500 / 429 before any side
effect, or a withheld response after it), Stripe's Idempotency-Key semantics,
then the operation on StripeState. Events become signed webhooks sent in the
background; captured payments settle into balance transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from paysaga.sandbox.dropped import DroppedResponse
from paysaga.sandbox.faults import Fault, FaultInjector
from paysaga.sandbox.settings import SandboxSettings
from paysaga.sandbox.stripe.form import (
    FormError,
    get_bool,
    get_dict,
    get_int,
    get_list,
    get_str,
    parse_form,
)
from paysaga.sandbox.stripe.state import Obj, StripeApiError, StripeState, invalid
from paysaga.sandbox.stripe.webhooks import event_body, signature_header
from paysaga.sandbox.webhook_sender import WebhookSender

log = structlog.get_logger()

Handler = Callable[[StripeState, dict[str, Any], tuple[str, ...]], Obj]


@dataclass(frozen=True)
class _Op:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    params: frozenset[str]  # accepted top-level parameters


@dataclass(frozen=True)
class _Stored:
    method: str
    path: str
    params: str  # canonical JSON of the parameters
    status: int
    body: Obj


def _list(data: list[Obj], url: str, params: dict[str, Any]) -> Obj:
    limit = get_int(params, "limit") or 10
    if not 1 <= limit <= 100:
        raise invalid("Invalid limit: must be between 1 and 100", param="limit")
    after = get_str(params, "starting_after")
    if after is not None:
        ids = [item["id"] for item in data]
        if after not in ids:
            raise invalid(f"No such object: '{after}'", param="starting_after")
        data = data[ids.index(after) + 1 :]
    return {"object": "list", "url": url, "has_more": len(data) > limit, "data": data[:limit]}


# -- operations ------------------------------------------------------------------


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
    found = s.search_intents(get_str(p, "query", required=True) or "")
    limit = get_int(p, "limit") or 10
    return {
        "object": "search_result",
        "url": "/v1/payment_intents/search",
        "has_more": len(found) > limit,
        "next_page": None,
        "data": found[:limit],
    }


def _list_balance(s: StripeState, p: dict[str, Any], _: tuple[str, ...]) -> Obj:
    created_raw = p.get("created") or {}
    if not isinstance(created_raw, dict):
        raise invalid("created must be a hash", param="created")
    created = {
        k: get_int(created_raw, k) or 0 for k in created_raw if k in ("gt", "gte", "lt", "lte")
    }
    return _list(s.list_balance(created, get_str(p, "type")), "/v1/balance_transactions", p)


def _create_refund(s: StripeState, p: dict[str, Any], _: tuple[str, ...]) -> Obj:
    return s.create_refund(
        payment_intent=get_str(p, "payment_intent"),
        charge=get_str(p, "charge"),
        amount=get_int(p, "amount"),
        meta=get_dict(p, "metadata"),
    )


_LIST = frozenset({"limit", "starting_after", "ending_before"})
OPS: list[_Op] = [
    _Op(
        "POST",
        re.compile(r"/v1/customers"),
        _create_customer,
        frozenset({"email", "name", "metadata", "payment_method", "description"}),
    ),
    _Op(
        "GET",
        re.compile(r"/v1/customers/(cus_\w+|[^/]+)"),
        lambda s, p, g: s.customer(g[0]),
        frozenset(),
    ),
    _Op(
        "POST",
        re.compile(r"/v1/customers/([^/]+)/sources"),
        lambda s, p, g: s.add_bank_source(g[0], get_str(p, "source", required=True) or ""),
        frozenset({"source", "metadata"}),
    ),
    _Op(
        "POST", re.compile(r"/v1/payment_methods/([^/]+)/attach"), _attach, frozenset({"customer"})
    ),
    _Op(
        "GET",
        re.compile(r"/v1/payment_methods/([^/]+)"),
        lambda s, p, g: s.payment_method(g[0]),
        frozenset(),
    ),
    _Op(
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
    _Op(
        "GET",
        re.compile(r"/v1/payment_intents/search"),
        _search_intents,
        frozenset({"query", "limit", "page"}),
    ),
    _Op(
        "GET",
        re.compile(r"/v1/payment_intents"),
        lambda s, p, g: _list(s.list_intents(get_str(p, "customer")), "/v1/payment_intents", p),
        _LIST | {"customer", "created"},
    ),
    _Op(
        "GET",
        re.compile(r"/v1/payment_intents/([^/]+)"),
        lambda s, p, g: s.intent(g[0]),
        frozenset({"client_secret"}),
    ),
    _Op(
        "POST",
        re.compile(r"/v1/payment_intents/([^/]+)/capture"),
        lambda s, p, g: s.capture(g[0], get_int(p, "amount_to_capture")),
        frozenset({"amount_to_capture", "metadata"}),
    ),
    _Op(
        "POST",
        re.compile(r"/v1/payment_intents/([^/]+)/cancel"),
        lambda s, p, g: s.cancel(g[0], get_str(p, "cancellation_reason")),
        frozenset({"cancellation_reason"}),
    ),
    _Op("GET", re.compile(r"/v1/charges/([^/]+)"), lambda s, p, g: s.charge(g[0]), frozenset()),
    _Op(
        "POST",
        re.compile(r"/v1/refunds"),
        _create_refund,
        frozenset({"payment_intent", "charge", "amount", "metadata", "reason"}),
    ),
    _Op("GET", re.compile(r"/v1/refunds/([^/]+)"), lambda s, p, g: s.refund(g[0]), frozenset()),
    _Op(
        "GET",
        re.compile(r"/v1/balance_transactions"),
        _list_balance,
        _LIST | {"created", "type", "source", "payout", "currency"},
    ),
]


class StripeSandbox:
    """Owns the state, the idempotency store, the webhook sender and the settler."""

    def __init__(self, injector: FaultInjector, settings: SandboxSettings) -> None:
        self.injector = injector
        self.settings = settings
        self.state = StripeState()
        self.sender = WebhookSender(injector)
        self._idempotency: dict[str, _Stored] = {}
        self._stop = threading.Event()
        self._settler: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        self._settler = threading.Thread(
            target=self._settle_loop, name="stripe-settler", daemon=True
        )
        self._settler.start()
        try:
            yield
        finally:
            self._stop.set()
            self._settler.join(timeout=2)
            self.sender.close()

    def _settle_loop(self) -> None:
        while not self._stop.wait(0.2):
            if self.settings.settle_after_s > 0:
                self.state.settle(time.time() - self.settings.settle_after_s)
                self.dispatch_events(None)

    def dispatch_events(self, request_id: str | None) -> None:
        url = self.injector.config.webhook_url
        events = self.state.drain_events()
        if not url:
            return
        secret = self.settings.stripe_webhook_secret
        for type_, obj in events:
            event_id, body = event_body(type_, obj, request_id)
            self.sender.send(
                url,
                body,
                {},
                event_id,
                sign=lambda b: {"Stripe-Signature": signature_header(secret, b)},
            )
            with self.state.lock:
                self.state.stats.webhooks_queued += 1

    # -- API requests ---------------------------------------------------------------

    async def api(self, request: Request) -> Response:
        request_id = "req_" + secrets.token_hex(7)
        headers = {
            "Request-Id": request_id,
            "Stripe-Version": request.headers.get("Stripe-Version", ""),
        }
        config = self.injector.config
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        try:
            self._authenticate(request)
            method, path = request.method, request.url.path
            op, groups = self._route(method, path)
            raw = (
                (await request.body()).decode("utf-8", "replace")
                if method == "POST"
                else (request.url.query)
            )
            try:
                params = parse_form(raw)
            except FormError as exc:
                raise invalid(str(exc), param=exc.param) from None
            for name in params:
                if name not in op.params and name != "expand":
                    raise invalid(f"Received unknown parameter: {name}", param=name)
            fault = self.injector.roll(mutating=method == "POST")
            if fault is Fault.SERVER_ERROR:
                return self._error(
                    StripeApiError(500, "api_error", "An unknown error occurred (sandbox fault)."),
                    headers,
                )
            if fault is Fault.RATE_LIMITED:
                headers["Retry-After"] = str(config.retry_after_s)
                return self._error(
                    StripeApiError(
                        429,
                        "invalid_request_error",
                        "Too many requests (sandbox fault).",
                        code="rate_limit",
                    ),
                    headers,
                )
            status, body, replayed = self._execute(request, op, groups, params)
            if replayed:
                headers["Idempotent-Replayed"] = "true"
            key = request.headers.get("Idempotency-Key")
            if key:
                headers["Idempotency-Key"] = key
            self.dispatch_events(request_id)
            if fault is Fault.TIMEOUT_AFTER_SUCCESS:
                # The side effect happened; withhold the answer, then drop the connection.
                await asyncio.sleep(config.timeout_hang_s)
                return DroppedResponse()
            return JSONResponse(body, status_code=status, headers=headers)
        except StripeApiError as exc:
            self.dispatch_events(request_id)
            return self._error(exc, headers)

    def _authenticate(self, request: Request) -> None:
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip()
        if key != self.settings.stripe_api_key:
            shown = (key[:8] + "*" * 4 + key[-4:]) if len(key) > 12 else "****"
            raise StripeApiError(401, "invalid_request_error", f"Invalid API Key provided: {shown}")

    def _route(self, method: str, path: str) -> tuple[_Op, tuple[str, ...]]:
        for op in OPS:
            match = op.pattern.fullmatch(path)
            if match and op.method == method:
                return op, match.groups()
        raise StripeApiError(
            404, "invalid_request_error", f"Unrecognized request URL ({method}: {path})."
        )

    def _execute(
        self, request: Request, op: _Op, groups: tuple[str, ...], params: dict[str, Any]
    ) -> tuple[int, Obj, bool]:
        expand = get_list(params, "expand")
        key = request.headers.get("Idempotency-Key") if op.method == "POST" else None
        canonical = json.dumps({k: v for k, v in params.items() if k != "expand"}, sort_keys=True)
        with self.state.lock:
            if key:
                stored = self._idempotency.get(key)
                if stored is not None:
                    if (stored.method, stored.path, stored.params) != (
                        op.method,
                        request.url.path,
                        canonical,
                    ):
                        raise StripeApiError(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{key}' if you meant to execute a different request.",
                        )
                    self.state.stats.idempotent_replays += 1
                    return stored.status, stored.body, True
            try:
                status, body = (
                    200,
                    self.state.expand(op.handler(self.state, params, groups), expand),
                )
            except FormError as exc:
                status, body = 400, invalid(str(exc), param=exc.param).body()
            except StripeApiError as exc:
                if exc.status >= 500:
                    raise
                status, body = exc.status, exc.body()
            if key:
                self._idempotency[key] = _Stored(
                    op.method, request.url.path, canonical, status, body
                )
            return status, body, False

    @staticmethod
    def _error(exc: StripeApiError, headers: dict[str, str]) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    # -- sandbox controls -------------------------------------------------------------

    async def faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.injector.configure(await request.json())
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.injector.config.to_dict())

    async def settle(self, request: Request) -> Response:
        data = await _json_or_empty(request)
        cutoff = time.time()
        if data.get("before"):
            cutoff = datetime.fromisoformat(str(data["before"])).timestamp()
        count = self.state.settle(cutoff)
        self.dispatch_events(None)
        return JSONResponse({"settled": count})

    async def tamper(self, request: Request) -> Response:
        data = await _json_or_empty(request)
        try:
            result = self.state.tamper(
                str(data.get("reference", "")),
                str(data.get("action", "")),
                int(data.get("delta_minor", 1)),
            )
        except StripeApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(result)

    async def ach_return(self, request: Request) -> Response:
        data = await _json_or_empty(request)
        try:
            result = self.state.ach_return(
                str(data.get("reference", "")), str(data.get("code", "R01"))
            )
        except StripeApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        self.dispatch_events(None)
        return JSONResponse(result)

    async def stats(self, _: Request) -> Response:
        body = self.state.stats_dict()
        body["faults"] = dict(self.injector.counts)
        body["webhooks_delivered"] = len(self.sender.records)
        return JSONResponse(body)


async def _json_or_empty(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    return data if isinstance(data, dict) else {}


def build_app(injector: FaultInjector, settings: SandboxSettings) -> Starlette:
    sandbox = StripeSandbox(injector, settings)
    app = Starlette(
        routes=[
            Route("/__sandbox/faults", sandbox.faults, methods=["GET", "POST"]),
            Route("/__sandbox/settle", sandbox.settle, methods=["POST"]),
            Route("/__sandbox/tamper", sandbox.tamper, methods=["POST"]),
            Route("/__sandbox/ach_return", sandbox.ach_return, methods=["POST"]),
            Route("/__sandbox/stats", sandbox.stats, methods=["GET"]),
            Route("/{path:path}", sandbox.api, methods=["GET", "POST", "DELETE"]),
        ],
        lifespan=sandbox.lifespan,
    )
    app.state.sandbox = sandbox
    return app
