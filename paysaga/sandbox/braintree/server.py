"""A local Braintree gateway the official `braintree` SDK talks to unchanged.

Speaks the gateway's XML over HTTP (Basic auth with public/private key, gzip'd
responses, `/merchants/{merchant_id}/...` paths, `<api-error-response>` for
validation errors and declines, 404/401/429/500 bodies the SDK turns into its
exceptions). State lives in `BraintreeStore`; this module adds faults,
idempotency, settlement timing, webhooks and the `/__sandbox/*` control API.

Idempotency: the real gateway has no idempotency header; integrations make
retries safe with order ids and lookups (our adapter does). The sandbox also
honours an optional `X-Idempotency-Key` header like the other providers: same
key + same request replays the stored response, same key + different request is
a 422 with error code IDEMPOTENCY_MISMATCH_CODE.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import json
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from paysaga.sandbox.braintree import notify
from paysaga.sandbox.braintree.state import ApiError, BraintreeStore, NotFound, Txn, format_amount
from paysaga.sandbox.braintree.xml_codec import Collection, MalformedXml, dumps, loads
from paysaga.sandbox.faults import Fault, FaultInjector
from paysaga.sandbox.settings import SandboxSettings
from paysaga.sandbox.webhook_sender import WebhookSender

log = structlog.get_logger()

IDEMPOTENCY_HEADER = "X-Idempotency-Key"
IDEMPOTENCY_MISMATCH_CODE = "93199"
SETTLE_POLL_S = 0.2
SEARCH_PAGE_SIZE = 50

Handler = Callable[[Request, Any], "Result"]


@dataclass(frozen=True)
class Result:
    status: int
    root: str | None  # None: empty body
    body: Any = None


@dataclass(frozen=True)
class _Stored:
    fingerprint: str
    result: Result


class BraintreeSandbox:
    """The app's state and behaviour; `build_app` wires it to routes."""

    def __init__(self, injector: FaultInjector, settings: SandboxSettings) -> None:
        self.injector = injector
        self.settings = settings
        self.store = BraintreeStore(settings.braintree_merchant_id)
        self.sender = WebhookSender(injector)
        self._idem_lock = threading.Lock()
        self._idempotency: dict[str, _Stored] = {}
        self.counters: dict[str, int] = {"idempotent_replays": 0, "webhooks_queued": 0}
        expected = f"{settings.braintree_public_key}:{settings.braintree_private_key}"
        self._auth = "Basic " + base64.b64encode(expected.encode()).decode()

    # -- request pipeline -----------------------------------------------------

    async def handle(self, request: Request, op: Handler, *, mutating: bool) -> Response:
        config = self.injector.config
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        fault = self.injector.roll(mutating)
        if fault is Fault.SERVER_ERROR:
            return Response(status_code=500)
        if fault is Fault.RATE_LIMITED:
            return Response(status_code=429, headers={"Retry-After": f"{config.retry_after_s:g}"})
        raw = await request.body()
        key = request.headers.get(IDEMPOTENCY_HEADER) if mutating else None
        result = self._execute(request, op, raw, key)
        if fault is Fault.TIMEOUT_AFTER_SUCCESS:
            # The side effect happened; withhold the answer past the client's timeout.
            await asyncio.sleep(config.timeout_hang_s)
            return Response(status_code=500)
        return self._render(request, result)

    def _check_auth(self, request: Request) -> Response | None:
        supplied = request.headers.get("authorization", "")
        if not secrets.compare_digest(supplied.encode(), self._auth.encode()):
            return Response(status_code=401)
        if request.path_params.get("merchant_id") != self.settings.braintree_merchant_id:
            return Response(status_code=403)
        return None

    def _execute(self, request: Request, op: Handler, raw: bytes, key: str | None) -> Result:
        fingerprint = hashlib.sha256(
            request.method.encode() + b" " + request.url.path.encode() + b"\n" + raw
        ).hexdigest()
        if key is not None:
            with self._idem_lock:
                stored = self._idempotency.get(key)
                if stored is not None:
                    if stored.fingerprint != fingerprint:
                        return _error(
                            ApiError(
                                "Idempotency key was already used with different parameters.",
                                code=IDEMPOTENCY_MISMATCH_CODE,
                                attribute="idempotency_key",
                            )
                        )
                    self.counters["idempotent_replays"] += 1
                    return stored.result
        result = self._run(request, op, raw)
        if key is not None and result.status < 500:
            with self._idem_lock:
                # First writer wins: a concurrent duplicate keeps the stored answer.
                self._idempotency.setdefault(key, _Stored(fingerprint, result))
                result = self._idempotency[key].result
        return result

    def _run(self, request: Request, op: Handler, raw: bytes) -> Result:
        try:
            params: Any = {}
            if raw.strip():
                # The root element (<transaction>, <search>, ...) wraps the parameters.
                _, params = loads(raw)
            return op(request, params if isinstance(params, dict) else {})
        except MalformedXml as exc:
            return _error(ApiError(str(exc), code="91800"))
        except ApiError as exc:
            return _error(exc)
        except NotFound:
            return Result(404, None)

    def _render(self, request: Request, result: Result) -> Response:
        if result.root is None:
            return Response(status_code=result.status)
        body = dumps(result.root, result.body)
        headers = {"Content-Type": "application/xml; charset=utf-8"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return Response(body, status_code=result.status, headers=headers)

    # -- operations -------------------------------------------------------------

    def create_transaction(self, request: Request, params: Any) -> Result:
        return Result(201, "transaction", self.store.sale(params))

    def find_transaction(self, request: Request, params: Any) -> Result:
        return Result(200, "transaction", self.store.find(request.path_params["id"]))

    def submit(self, request: Request, params: Any) -> Result:
        txn = self.store.submit_for_settlement(request.path_params["id"], params)
        return Result(200, "transaction", txn)

    def void(self, request: Request, params: Any) -> Result:
        return Result(200, "transaction", self.store.void(request.path_params["id"]))

    def refund(self, request: Request, params: Any) -> Result:
        credit = self.store.refund(request.path_params["id"], params)
        return Result(201, "transaction", credit)

    def testing(self, request: Request, params: Any) -> Result:
        action = request.url.path.rsplit("/", 1)[-1]
        txn = self.store.testing_transition(request.path_params["id"], action)
        if txn.status == "settled":
            self._notify_settled([txn])
        elif txn.status == "settlement_declined":
            self._notify_transaction("transaction_settlement_declined", txn)
        return Result(200, "transaction", self.store.render(txn))

    def search_ids(self, request: Request, params: Any) -> Result:
        ids = self.store.search_ids(params)
        return Result(200, "search_results", {"page_size": SEARCH_PAGE_SIZE, "ids": ids})

    def search(self, request: Request, params: Any) -> Result:
        found = self.store.fetch(params)
        body: dict[str, Any] = {
            "current_page_number": 1,
            "page_size": SEARCH_PAGE_SIZE,
            "total_items": len(found),
        }
        # Repeated <transaction> children: the SDK's parser collects them into a list.
        return Result(200, "credit_card_transactions", Collection(body, "transaction", found))

    def create_customer(self, request: Request, params: Any) -> Result:
        return Result(201, "customer", self.store.create_customer(params))

    def find_customer(self, request: Request, params: Any) -> Result:
        return Result(200, "customer", self.store.find_customer(request.path_params["id"]))

    def create_payment_method(self, request: Request, params: Any) -> Result:
        return Result(201, "credit_card", self.store.create_payment_method(params))

    def find_payment_method(self, request: Request, params: Any) -> Result:
        return Result(200, "credit_card", self.store.find_payment_method(request.path_params["id"]))

    def client_token(self, request: Request, params: Any) -> Result:
        section = params
        customer_id = section.get("customer_id")
        if customer_id is not None:
            self.store.find_customer(str(customer_id))  # 404 for an unknown customer
        fingerprint = secrets.token_hex(32)
        token = {
            "version": section.get("version", 2),
            "authorizationFingerprint": fingerprint,
            "configUrl": (
                f"{request.base_url}merchants/{self.settings.braintree_merchant_id}"
                "/client_api/v1/configuration"
            ),
            "merchantId": self.settings.braintree_merchant_id,
            "environment": "development",
        }
        value = base64.b64encode(json.dumps(token).encode()).decode()
        return Result(201, "client_token", {"value": value})

    # -- settlement and webhooks -----------------------------------------------

    def settle(self, before: datetime | None) -> list[Txn]:
        settled = self.store.settle(before)
        if settled:
            self._notify_settled(settled)
        return settled

    def _notify_settled(self, settled: list[Txn]) -> None:
        for txn in settled:
            self._notify_transaction("transaction_settled", txn)
        url = self.injector.config.webhook_url
        if not url:
            return
        by_account: dict[str, list[Txn]] = {}
        for txn in settled:
            by_account.setdefault(txn.merchant_account_id, []).append(txn)
        for account, txns in by_account.items():
            disbursement_id = secrets.token_hex(4)
            currency = txns[0].currency
            net = sum(t.amount_minor if t.type == "sale" else -t.amount_minor for t in txns)
            subject = {
                "id": disbursement_id,
                "transaction_ids": [t.id for t in txns],
                "success": True,
                "retry": False,
                "merchant_account": {
                    "id": account,
                    "currency_iso_code": currency,
                    "sub_merchant_account": False,
                    "status": "active",
                },
                "amount": format_amount(net, currency),
                "disbursement_date": txns[0].disbursement_date,
                "exception_message": None,
                "follow_up_action": None,
            }
            self._deliver(
                "disbursement", "disbursement", subject, f"disbursement:{disbursement_id}"
            )

    def _notify_transaction(self, kind: str, txn: Txn) -> None:
        self._deliver(kind, "transaction", self.store.render(txn), f"{kind}:{txn.id}")

    def _deliver(self, kind: str, tag: str, subject: dict[str, Any], event_id: str) -> None:
        url = self.injector.config.webhook_url
        if not url:
            return
        fields = notify.notification(
            kind,
            tag,
            subject,
            public_key=self.settings.braintree_public_key,
            private_key=self.settings.braintree_private_key,
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        self.sender.send(url, notify.form_body(fields), headers, event_id)
        self.counters["webhooks_queued"] += 1

    async def settle_loop(self) -> None:
        while True:
            await asyncio.sleep(SETTLE_POLL_S)
            delay = self.settings.settle_after_s
            if delay > 0:
                try:
                    self.settle(datetime.now(UTC) - timedelta(seconds=delay))
                except Exception:  # keep settling whatever one batch did
                    log.exception("braintree_settle_failed")

    def stats(self) -> dict[str, Any]:
        store = self.store
        with store._lock:
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
                "idempotent_replays": self.counters["idempotent_replays"],
                "webhooks_queued": self.counters["webhooks_queued"],
                "faults": dict(self.injector.counts),
                "by_payment_id": self._by_payment_id(),
            }

    def _by_payment_id(self) -> dict[str, Any]:
        """Per payment (a sale's order_id is our payment id): what the gateway holds."""
        store = self.store
        out: dict[str, dict[str, int]] = {}
        for txn in store.transactions.values():
            if txn.type != "sale" or not txn.order_id:
                continue
            row = out.setdefault(
                txn.order_id,
                {
                    "captured_charges": 0,
                    "captured_minor": 0,
                    "refunded_minor": 0,
                    "open_authorizations": 0,
                },
            )
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


def _error(exc: ApiError) -> Result:
    return Result(422, "api_error_response", exc.body())


def build_app(injector: FaultInjector, settings: SandboxSettings) -> Starlette:
    sandbox = BraintreeSandbox(injector, settings)

    def api(op: Handler, *, mutating: bool) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await sandbox.handle(request, op, mutating=mutating)

        return endpoint

    base = "/merchants/{merchant_id}"
    txn = base + "/transactions/{id}"
    routes = [
        Route(
            base + "/transactions", api(sandbox.create_transaction, mutating=True), methods=["POST"]
        ),
        Route(
            base + "/transactions/advanced_search_ids",
            api(sandbox.search_ids, mutating=False),
            methods=["POST"],
        ),
        Route(
            base + "/transactions/advanced_search",
            api(sandbox.search, mutating=False),
            methods=["POST"],
        ),
        Route(txn, api(sandbox.find_transaction, mutating=False), methods=["GET"]),
        Route(txn + "/submit_for_settlement", api(sandbox.submit, mutating=True), methods=["PUT"]),
        Route(txn + "/void", api(sandbox.void, mutating=True), methods=["PUT"]),
        Route(txn + "/refund", api(sandbox.refund, mutating=True), methods=["POST"]),
        *[
            Route(txn + "/" + action, api(sandbox.testing, mutating=True), methods=["PUT"])
            for action in (
                "settle",
                "settlement_confirm",
                "settlement_decline",
                "settlement_pending",
            )
        ],
        Route(base + "/customers", api(sandbox.create_customer, mutating=True), methods=["POST"]),
        Route(
            base + "/customers/{id}", api(sandbox.find_customer, mutating=False), methods=["GET"]
        ),
        Route(
            base + "/payment_methods",
            api(sandbox.create_payment_method, mutating=True),
            methods=["POST"],
        ),
        Route(
            base + "/payment_methods/any/{id}",
            api(sandbox.find_payment_method, mutating=False),
            methods=["GET"],
        ),
        Route(base + "/client_token", api(sandbox.client_token, mutating=True), methods=["POST"]),
        Route("/__sandbox/faults", _faults(sandbox), methods=["GET", "POST"]),
        Route("/__sandbox/settle", _settle(sandbox), methods=["POST"]),
        Route("/__sandbox/tamper", _tamper(sandbox), methods=["POST"]),
        Route("/__sandbox/stats", _stats(sandbox), methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(sandbox.settle_loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            sandbox.sender.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = sandbox
    return app


def _faults(sandbox: BraintreeSandbox) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if request.method == "POST":
            try:
                sandbox.injector.configure(await request.json())
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(sandbox.injector.config.to_dict())

    return endpoint


def _settle(sandbox: BraintreeSandbox) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
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

    return endpoint


def _tamper(sandbox: BraintreeSandbox) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            data = await request.json()
            result = sandbox.store.tamper(
                str(data["reference"]), str(data["action"]), int(data.get("delta_minor", 1))
            )
        except NotFound:
            return JSONResponse({"error": "no such transaction"}, status_code=404)
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(result)

    return endpoint


def _stats(sandbox: BraintreeSandbox) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return JSONResponse(sandbox.stats())

    return endpoint
