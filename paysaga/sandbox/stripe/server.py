"""Local Stripe API (v1 subset) that the official `stripe` SDK talks to unchanged.

Per request: added latency, API-key check, routing and form parsing, fault dice
(500 / 429 before any side effect, or a withheld response after it), Stripe's
Idempotency-Key semantics, then the operation on StripeState. Events become signed
webhooks sent in the background; captured payments settle into balance
transactions on a timer. `build_app` wires this to the API and the control API.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from paysaga.sandbox import faults
from paysaga.sandbox.drift import malform
from paysaga.sandbox.dropped import DroppedResponse
from paysaga.sandbox.faults import Fault, FaultConfig, FaultInjector, OpKind
from paysaga.sandbox.settings import SandboxSettings
from paysaga.sandbox.stripe import control, idempotency, refunds, render, routes, settlement
from paysaga.sandbox.stripe import faults as stripe_faults
from paysaga.sandbox.stripe.errors import Obj, StripeApiError, error_response, invalid
from paysaga.sandbox.stripe.form import FormError, get_list, parse_form
from paysaga.sandbox.stripe.state import StripeState
from paysaga.sandbox.stripe.webhooks import event_body, signature_header
from paysaga.sandbox.visibility import SearchLag, lagging
from paysaga.sandbox.webhook_sender import WebhookSender

log = structlog.get_logger()


class StripeSandbox:
    """Owns the state, the idempotency store, the webhook sender and the settler."""

    def __init__(self, injector: FaultInjector, settings: SandboxSettings) -> None:
        self.injector = injector
        self.settings = settings
        self.state = StripeState()
        self.sender = WebhookSender(injector)
        self._idempotency: dict[str, idempotency.Stored] = {}
        self._in_flight: set[str] = set()  # idempotency keys of late_success requests
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
                settlement.settle(self.state, time.time() - self.settings.settle_after_s)
            refunds.fail_due(self.state, time.time())
            self.dispatch_events(None)

    def dispatch_events(self, request_id: str | None) -> None:
        url = self.injector.config.webhook_url
        events = self.state.drain_events()  # drained even without a URL: none pile up
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
        config = self.injector.config  # one snapshot for the whole request
        await faults.add_latency(config)
        try:
            self._authenticate(request)
            method, path = request.method, request.url.path
            op, groups = routes.route(method, path)
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
            fault = self.injector.roll(mutating=method == "POST", kind=_kind(method, path))
            refused = stripe_faults.refusal(fault, config, headers)
            if refused is not None:
                return refused
            sent_key = request.headers.get("Idempotency-Key") if op.method == "POST" else None
            if sent_key and sent_key in self._in_flight:
                raise stripe_faults.key_in_use(sent_key)
            if sent_key:
                headers["Idempotency-Key"] = sent_key
            run = functools.partial(
                self._execute, op, path, groups, params, sent_key, fault, config, request_id
            )
            if fault is Fault.LATE_SUCCESS:
                return await self._late(sent_key, config, run)
            status, body, replayed = run()
            if replayed:
                headers["Idempotent-Replayed"] = "true"
            if fault in faults.WITHHELD:
                return await stripe_faults.withheld(config)
            if fault is Fault.MALFORMED_RESPONSE and status == 200:
                body = malform(body, stripe_faults.DRIFTING_FIELDS, self.injector.pick)
            return JSONResponse(body, status_code=status, headers=headers)
        except StripeApiError as exc:
            self.dispatch_events(request_id)
            return error_response(exc, headers)

    def _execute(
        self,
        op: routes.Op,
        path: str,
        groups: tuple[str, ...],
        params: dict[str, Any],
        sent_key: str | None,
        fault: Fault,
        config: FaultConfig,
        request_id: str,
    ) -> tuple[int, Obj, bool]:
        """Run the operation under the Idempotency-Key rules; queue its webhooks."""
        expand = get_list(params, "expand")

        def run() -> Obj:
            fail_at = None
            if fault is Fault.REFUND_PENDING_THEN_FAILED:  # only a refund create heeds it
                fail_at = time.time() + config.refund_fail_after_s
            with refunds.failing(fail_at):
                result = op.handler(self.state, params, groups)
            return render.expand(result, expand, self.state.find)

        with lagging(SearchLag.of(config, self.settings.search_lag_s)):
            try:
                outcome = idempotency.execute(
                    self.state,
                    self._idempotency,
                    sent_key,
                    method=op.method,
                    path=path,
                    params=params,
                    run=run,
                )
            finally:
                self.dispatch_events(request_id)
        return outcome

    async def _late(
        self, key: str | None, config: FaultConfig, execute: Callable[[], object]
    ) -> Response:
        """late_success: the client times out first, the request is done after.

        Its idempotency key is in use meanwhile: Stripe answers a concurrent request
        with the same key 409 `idempotency_key_in_use` (https://docs.stripe.com/idempotency,
        https://docs.stripe.com/error-codes#idempotency-key-in-use).
        """
        if key:
            self._in_flight.add(key)
        try:
            await faults.hang(config)
            with contextlib.suppress(StripeApiError):
                execute()
        finally:
            if key:
                self._in_flight.discard(key)
        return DroppedResponse()

    def _authenticate(self, request: Request) -> None:
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip()
        if key != self.settings.stripe_api_key:
            shown = (key[:8] + "*" * 4 + key[-4:]) if len(key) > 12 else "****"
            raise StripeApiError(401, "invalid_request_error", f"Invalid API Key provided: {shown}")


def _kind(method: str, path: str) -> OpKind:
    """Captures and refunds have faults of their own."""
    if method != "POST":
        return None
    if path.startswith("/v1/payment_intents/") and path.endswith("/capture"):
        return "capture"
    return "refund" if path == "/v1/refunds" else None


def build_app(injector: FaultInjector, settings: SandboxSettings) -> Starlette:
    sandbox = StripeSandbox(injector, settings)
    app = Starlette(
        routes=[
            *control.routes(sandbox),
            Route("/{path:path}", sandbox.api, methods=["GET", "POST", "DELETE"]),
        ],
        lifespan=sandbox.lifespan,
    )
    app.state.sandbox = sandbox
    return app
