"""A local Braintree gateway the official `braintree` SDK talks to unchanged.

Speaks the gateway's XML over HTTP (Basic auth with public/private key, gzip'd
responses, `/merchants/{merchant_id}/...` paths, `<api-error-response>` for
validation errors and declines, 404/401/429/500 bodies the SDK turns into its
exceptions). Per request: added latency, auth, fault dice, the optional
idempotency header, then the operation (`routes`) on the `BraintreeStore`.
Submitted transactions settle on a timer and become webhooks; `build_app` wires
this to the API and the `/__sandbox/*` control API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from paysaga.sandbox import faults
from paysaga.sandbox.braintree import control, idempotency, routes, settlement, webhooks
from paysaga.sandbox.braintree import faults as braintree_faults
from paysaga.sandbox.braintree.errors import ApiError, NotFound
from paysaga.sandbox.braintree.model import Txn
from paysaga.sandbox.braintree.render import Result, error_result, to_response
from paysaga.sandbox.braintree.state import BraintreeStore
from paysaga.sandbox.braintree.xml_codec import MalformedXml, loads
from paysaga.sandbox.faults import Fault, FaultInjector
from paysaga.sandbox.settings import SandboxSettings
from paysaga.sandbox.webhook_sender import WebhookSender

log = structlog.get_logger()

SETTLE_POLL_S = 0.2


class BraintreeSandbox:
    """The app's state and behaviour; `build_app` wires it to routes."""

    def __init__(self, injector: FaultInjector, settings: SandboxSettings) -> None:
        self.injector = injector
        self.settings = settings
        self.store = BraintreeStore(settings.braintree_merchant_id)
        self.sender = WebhookSender(injector)
        self._idem_lock = threading.Lock()
        self._idempotency: dict[str, idempotency.Stored] = {}
        self.counters: dict[str, int] = {"idempotent_replays": 0, "webhooks_queued": 0}
        expected = f"{settings.braintree_public_key}:{settings.braintree_private_key}"
        self._auth = "Basic " + base64.b64encode(expected.encode()).decode()

    # -- request pipeline -----------------------------------------------------

    def endpoint(
        self, op: routes.Op, *, mutating: bool
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self.handle(request, op, mutating=mutating)

        return endpoint

    async def handle(self, request: Request, op: routes.Op, *, mutating: bool) -> Response:
        config = self.injector.config  # one snapshot for the whole request
        await faults.add_latency(config)
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        fault = self.injector.roll(mutating)
        refused = braintree_faults.refusal(fault, config)
        if refused is not None:
            return refused
        raw = await request.body()
        key = request.headers.get(idempotency.IDEMPOTENCY_HEADER) if mutating else None
        result = idempotency.execute(
            self._idempotency,
            self._idem_lock,
            self.counters,
            request,
            raw,
            key,
            lambda: self._run(request, op, raw),
        )
        if fault is Fault.TIMEOUT_AFTER_SUCCESS:
            return await braintree_faults.withheld(config)
        return to_response(request, result)

    def _check_auth(self, request: Request) -> Response | None:
        supplied = request.headers.get("authorization", "")
        if not secrets.compare_digest(supplied.encode(), self._auth.encode()):
            return Response(status_code=401)
        if request.path_params.get("merchant_id") != self.settings.braintree_merchant_id:
            return Response(status_code=403)
        return None

    def _run(self, request: Request, op: routes.Op, raw: bytes) -> Result:
        try:
            params: Any = {}
            if raw.strip():
                # The root element (<transaction>, <search>, ...) wraps the parameters.
                _, params = loads(raw)
            return op(self, request, params if isinstance(params, dict) else {})
        except MalformedXml as exc:
            return error_result(ApiError(str(exc), code="91800"))
        except ApiError as exc:
            return error_result(exc)
        except NotFound:
            return Result(404, None)

    # -- settlement -------------------------------------------------------------

    def settle(self, before: datetime | None) -> list[Txn]:
        settled = settlement.settle(self.store, before)
        if settled:
            webhooks.settled(self, settled)
        return settled

    async def settle_loop(self) -> None:
        while True:
            await asyncio.sleep(SETTLE_POLL_S)
            delay = self.settings.settle_after_s
            if delay > 0:
                try:
                    self.settle(datetime.now(UTC) - timedelta(seconds=delay))
                except Exception:  # keep settling whatever one batch did
                    log.exception("braintree_settle_failed")


def build_app(injector: FaultInjector, settings: SandboxSettings) -> Starlette:
    sandbox = BraintreeSandbox(injector, settings)

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

    app = Starlette(
        routes=[*routes.api_routes(sandbox), *control.routes(sandbox)], lifespan=lifespan
    )
    app.state.sandbox = sandbox
    return app
