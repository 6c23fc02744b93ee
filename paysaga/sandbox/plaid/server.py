"""Local Plaid API subset that `plaid-python` talks to unchanged.

JSON POST endpoints authenticated by client_id/secret (body or PLAID-* headers),
Plaid's error shape, fault injection, and ES256-signed webhooks.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from paysaga.sandbox import testdata
from paysaga.sandbox.control import faults_endpoint
from paysaga.sandbox.drift import malform
from paysaga.sandbox.dropped import DroppedResponse
from paysaga.sandbox.faults import WITHHELD, Fault, FaultInjector, add_latency, hang
from paysaga.sandbox.plaid.signing import WebhookSigner
from paysaga.sandbox.plaid.state import (
    Item,
    Obj,
    PlaidApiError,
    PlaidState,
    invalid_input,
    invalid_request,
)
from paysaga.sandbox.settings import SandboxSettings
from paysaga.sandbox.webhook_sender import WebhookSender

Handler = Callable[["PlaidSandbox", dict[str, Any]], Obj]
# Answer fields an integration reads; the malformed_response fault drops or retypes one.
_DRIFTING_FIELDS = ("access_token", "item_id", "processor_token", "public_token", "accounts")


def _require(body: dict[str, Any], name: str, kind: type = str) -> Any:
    value = body.get(name)
    if value is None or value == "":
        raise invalid_request(
            "MISSING_FIELDS", f"the following required fields are missing: {name}"
        )
    if not isinstance(value, kind):
        raise invalid_request("INVALID_FIELD", f"{name} must be of type {kind.__name__}")
    return value


class PlaidSandbox:
    def __init__(self, injector: FaultInjector, settings: SandboxSettings) -> None:
        self.injector = injector
        self.settings = settings
        self.state = PlaidState()
        self.signer = WebhookSigner()
        self.sender = WebhookSender(injector)
        self.requests: Counter[str] = Counter()  # per endpoint, whatever the answer

    @contextlib.asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self.sender.close()

    def webhook(self, url: str | None, payload: Obj) -> None:
        target = url or self.injector.config.webhook_url
        if not target:
            return
        body = json.dumps(payload).encode()
        self.sender.send(target, body, {}, secrets.token_hex(8), sign=self.signer.headers)
        with self.state.lock:
            self.state.counts["webhooks_queued"] += 1

    # -- endpoints ------------------------------------------------------------------

    def link_token_create(self, body: dict[str, Any]) -> Obj:
        user = _require(body, "user", dict)
        _require(user, "client_user_id")
        _require(body, "client_name")
        _require(body, "country_codes", list)
        _require(body, "language")
        return self.state.create_link_token(body.get("webhook"))

    def public_token_create(self, body: dict[str, Any]) -> Obj:
        institution = _require(body, "institution_id")
        products = _require(body, "initial_products", list)
        options = body.get("options") or {}
        token, item = self.state.create_public_token(
            institution,
            products,
            options.get("webhook"),
            options.get("override_username") or testdata.PLAID_USERNAME,
            options.get("override_password") or testdata.PLAID_PASSWORD,
        )
        self._auth_webhook(item)
        return {"public_token": token}

    def _auth_webhook(self, item: Item) -> None:
        self.webhook(
            item.webhook,
            {
                "webhook_type": "AUTH",
                "webhook_code": "DEFAULT_UPDATE",
                "item_id": item.item_id,
                "account_ids_with_new_auth": [a["account_id"] for a in item.accounts],
                "account_ids_with_updated_auth": {},
                "error": None,
                "environment": "sandbox",
            },
        )

    def exchange(self, body: dict[str, Any]) -> Obj:
        item = self.state.exchange(_require(body, "public_token"))
        return {"access_token": item.access_token, "item_id": item.item_id}

    def auth_get(self, body: dict[str, Any]) -> Obj:
        item = self.state.item_for(_require(body, "access_token"))
        ids = (body.get("options") or {}).get("account_ids")
        accounts = self.state.accounts_json(item, ids)
        return {
            "accounts": accounts,
            "numbers": {
                "ach": [
                    {
                        "account_id": a["account_id"],
                        "account": item.numbers[a["account_id"]][0],
                        "routing": item.numbers[a["account_id"]][1],
                        "wire_routing": "021000021",
                    }
                    for a in accounts
                ],
                "eft": [],
                "international": [],
                "bacs": [],
            },
            "item": self.state.item_json(item),
        }

    def identity_get(self, body: dict[str, Any]) -> Obj:
        item = self.state.item_for(_require(body, "access_token"))
        accounts = self.state.accounts_json(item, (body.get("options") or {}).get("account_ids"))
        for account in accounts:
            account["owners"] = [self.state.owner(item.owners[account["account_id"]])]
        return {"accounts": accounts, "item": self.state.item_json(item)}

    def balance_get(self, body: dict[str, Any]) -> Obj:
        """/accounts/balance/get: AccountsGetResponse (accounts with their balances, the
        item). Unknown account ids are INVALID_ACCOUNT_ID, as on /auth/get's options."""
        item = self.state.item_for(_require(body, "access_token"))
        ids = (body.get("options") or {}).get("account_ids")
        if ids and any(i not in item.numbers for i in ids):
            raise invalid_input("INVALID_ACCOUNT_ID", "one or more account_ids are not valid")
        with self.state.lock:
            self.state.counts["balance_requests"] += 1
        return {
            "accounts": self.state.accounts_json(item, ids),
            "item": self.state.item_json(item),
        }

    def processor_token(self, body: dict[str, Any]) -> Obj:
        token = self.state.processor_token(
            _require(body, "access_token"), _require(body, "account_id")
        )
        return {"stripe_bank_account_token": token}

    def verification_key(self, body: dict[str, Any]) -> Obj:
        if _require(body, "key_id") != self.signer.kid:
            raise invalid_input("INVALID_WEBHOOK_VERIFICATION_KEY_ID", "unknown key_id")
        return {"key": self.signer.jwk()}

    def fire_webhook(self, body: dict[str, Any]) -> Obj:
        item = self.state.item_for(_require(body, "access_token"))
        code = body.get("webhook_code") or "DEFAULT_UPDATE"
        if code == "DEFAULT_UPDATE":
            self._auth_webhook(item)
        else:
            self.webhook(
                item.webhook,
                {
                    "webhook_type": body.get("webhook_type") or "ITEM",
                    "webhook_code": code,
                    "item_id": item.item_id,
                    "error": None,
                    "environment": "sandbox",
                },
            )
        return {"webhook_fired": True}

    ROUTES: dict[str, tuple[Handler, bool]] = {  # path -> (handler, mutating)
        "/link/token/create": (link_token_create, True),
        "/sandbox/public_token/create": (public_token_create, True),
        "/item/public_token/exchange": (exchange, True),
        "/auth/get": (auth_get, False),
        "/identity/get": (identity_get, False),
        "/accounts/balance/get": (balance_get, False),
        "/processor/stripe/bank_account_token/create": (processor_token, True),
        "/webhook_verification_key/get": (verification_key, False),
        "/sandbox/item/fire_webhook": (fire_webhook, True),
    }

    async def api(self, request: Request) -> Response:
        request_id = secrets.token_urlsafe(12)
        config = self.injector.config
        await add_latency(config)
        try:
            route = self.ROUTES.get(request.url.path)
            self.requests[request.url.path] += 1
            if route is None or request.method != "POST":
                raise PlaidApiError(404, "INVALID_REQUEST", "NOT_FOUND", "unknown endpoint")
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                raise invalid_request("INVALID_BODY", "body could not be parsed as JSON") from None
            if not isinstance(body, dict):
                raise invalid_request("INVALID_BODY", "body must be a JSON object")
            self._authenticate(request, body)
            handler, mutating = route
            fault = self.injector.roll(mutating)
            if fault is Fault.SERVER_ERROR:
                raise PlaidApiError(500, "API_ERROR", "INTERNAL_SERVER_ERROR", "sandbox fault")
            if fault is Fault.RATE_LIMITED:
                error = PlaidApiError(429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT", "sandbox fault")
                return JSONResponse(
                    error.body(request_id),
                    status_code=429,
                    headers={"Retry-After": str(config.retry_after_s)},
                )
            if fault is Fault.LATE_SUCCESS:
                await hang(config)  # the client gives up first, the work is done after
                with contextlib.suppress(PlaidApiError):
                    handler(self, body)
                return DroppedResponse()
            result = {**handler(self, body), "request_id": request_id}
            if fault in WITHHELD:
                await hang(config)
                return DroppedResponse()
            if fault is Fault.MALFORMED_RESPONSE:
                result = malform(result, _DRIFTING_FIELDS, self.injector.pick)
            return JSONResponse(result)
        except PlaidApiError as exc:
            return JSONResponse(exc.body(request_id), status_code=exc.status)

    def _authenticate(self, request: Request, body: dict[str, Any]) -> None:
        client_id = body.get("client_id") or request.headers.get("PLAID-CLIENT-ID")
        secret = body.get("secret") or request.headers.get("PLAID-SECRET")
        if not client_id or not secret:
            raise invalid_request("MISSING_FIELDS", "client_id and secret are required")
        if (client_id, secret) != (self.settings.plaid_client_id, self.settings.plaid_secret):
            raise invalid_input("INVALID_API_KEYS", "invalid client_id or secret provided")

    # -- sandbox controls -------------------------------------------------------------

    async def settle(self, _: Request) -> Response:
        return JSONResponse({"settled": 0})  # Plaid moves no money here

    async def tamper(self, _: Request) -> Response:
        return JSONResponse({"error": "Plaid has no settlement listing to tamper with"}, 400)

    async def stats(self, _: Request) -> Response:
        body: Obj = self.state.stats()
        body["faults"] = dict(self.injector.counts)
        body["webhooks_delivered"] = len(self.sender.records)
        body["requests"] = dict(self.requests)
        return JSONResponse(body)


def build_app(injector: FaultInjector, settings: SandboxSettings) -> Starlette:
    sandbox = PlaidSandbox(injector, settings)
    app = Starlette(
        routes=[
            Route("/__sandbox/faults", faults_endpoint(injector), methods=["GET", "POST"]),
            Route("/__sandbox/settle", sandbox.settle, methods=["POST"]),
            Route("/__sandbox/tamper", sandbox.tamper, methods=["POST"]),
            Route("/__sandbox/stats", sandbox.stats, methods=["GET"]),
            Route("/{path:path}", sandbox.api, methods=["GET", "POST"]),
        ],
        lifespan=sandbox.lifespan,
    )
    app.state.sandbox = sandbox
    return app
