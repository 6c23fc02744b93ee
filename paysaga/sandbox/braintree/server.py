"""A local Braintree gateway the official `braintree` SDK talks to unchanged.

Speaks the gateway's XML over HTTP (Basic auth with public/private key, gzip'd
responses, `/merchants/{merchant_id}/...` paths, `<api-error-response>` for
validation errors and declines, 404/401/429/500 bodies the SDK turns into its
exceptions). Per request: added latency, auth, fault dice, then the operation
(`routes`) on the `BraintreeStore`. The real gateway has no idempotency header, so
`X-Idempotency-Key` is ignored unless a focused test opts in
(`braintree_idempotency_header` in the fault config; see `idempotency`).
Submitted transactions settle on a timer and become webhooks; `build_app` wires
this to the API and the `/__sandbox/*` control API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import threading
import time
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
from paysaga.sandbox.drift import malform
from paysaga.sandbox.dropped import DroppedResponse
from paysaga.sandbox.faults import Fault, FaultConfig, FaultInjector, OpKind
from paysaga.sandbox.settings import SandboxSettings
from paysaga.sandbox.visibility import SearchLag, lagging
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
        self, op: routes.Op, *, mutating: bool, kind: OpKind = None
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self.handle(request, op, mutating=mutating, kind=kind)

        return endpoint

    async def handle(
        self, request: Request, op: routes.Op, *, mutating: bool, kind: OpKind = None
    ) -> Response:
        config = self.injector.config  # one snapshot for the whole request
        await faults.add_latency(config)
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        fault = self.injector.roll(mutating, kind)
        refused = braintree_faults.refusal(fault, config)
        if refused is not None:
            return refused
        raw = await request.body()
        # Opt-in only: Braintree's API defines no idempotency header (see `idempotency`).
        replay = mutating and config.braintree_idempotency_header
        key = request.headers.get(idempotency.IDEMPOTENCY_HEADER) if replay else None

        def execute() -> Result:
            with lagging(SearchLag.of(config, self.settings.search_lag_s)):
                return idempotency.execute(
                    self._idempotency,
                    self._idem_lock,
                    self.counters,
                    request,
                    raw,
                    key,
                    lambda: self._run(request, op, raw, fault, config),
                )

        if fault is Fault.LATE_SUCCESS:
            await faults.hang(config)  # the client gives up first...
            execute()  # ...then the gateway does the work
            return DroppedResponse()
        result = execute()
        if fault in faults.WITHHELD:
            return await braintree_faults.withheld(config)
        drifted = fault is Fault.MALFORMED_RESPONSE and result.status < 300
        if drifted and isinstance(result.body, dict):
            body = malform(result.body, braintree_faults.DRIFTING_FIELDS, self.injector.pick)
            result = Result(result.status, result.root, body)
        return to_response(request, result)

    def _check_auth(self, request: Request) -> Response | None:
        supplied = request.headers.get("authorization", "")
        if not secrets.compare_digest(supplied.encode(), self._auth.encode()):
            return Response(status_code=401)
        if request.path_params.get("merchant_id") != self.settings.braintree_merchant_id:
            return Response(status_code=403)
        return None

    def _run(
        self, request: Request, op: routes.Op, raw: bytes, fault: Fault, config: FaultConfig
    ) -> Result:
        try:
            params: Any = {}
            if raw.strip():
                # The root element (<transaction>, <search>, ...) wraps the parameters.
                _, params = loads(raw)
            result = op(self, request, params if isinstance(params, dict) else {})
            if fault is Fault.REFUND_PENDING_THEN_FAILED and result.status == 201:
                fail_at = time.time() + config.refund_fail_after_s
                settlement.fail_refund_later(self.store, result.body["id"], fail_at)
            return result
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

    def fail_due_refunds(self) -> list[Txn]:
        declined = settlement.fail_due(self.store, time.time())
        for credit in declined:
            webhooks.transaction(self, "transaction_settlement_declined", credit)
        return declined

    async def settle_loop(self) -> None:
        while True:
            await asyncio.sleep(SETTLE_POLL_S)
            delay = self.settings.settle_after_s
            try:
                self.fail_due_refunds()
                if delay > 0:
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
