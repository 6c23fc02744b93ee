"""GatewayActivities: the card gateways (Stripe, Braintree) behind one Protocol.

The SDKs are synchronous: each call runs in a thread (asyncio.to_thread) so the worker's
event loop keeps heartbeating. Idempotency keys come from the workflow
(`{workflow_id}:{step}`); errors leave as classified ApplicationErrors (activities.errors).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from typing import TypeVar

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import gateway_application_error, invalid_request, translated
from paysaga.domain import activity_names as names
from paysaga.domain.errors import PaysagaError
from paysaga.domain.failures import ErrorType
from paysaga.domain.gateways import (
    GatewayAuthorizeInput,
    GatewayCancelInput,
    GatewayCaptureInput,
    GatewayLookupInput,
    GatewayRefundInput,
    GatewayRefundResult,
    GatewayRefundStatusInput,
    GatewayResult,
    LookupResult,
    RouteDecision,
    RouteRequest,
)
from paysaga.domain.reconciliation import ListSettledInput, SettledBatch, SettledItem
from paysaga.gateways.base import CardGateway
from paysaga.gateways.errors import (
    RESOURCE_MISSING,
    GatewayError,
    InvalidRequest,
    OutcomeUnknown,
)
from paysaga.gateways.router import GatewayRouter
from paysaga.gateways.types import (
    AuthorizeRequest,
    GatewayPayment,
    RefundResult,
    SettledTransaction,
)

log = structlog.get_logger()
T = TypeVar("T")
_HEARTBEAT_EVERY_S = 5.0


def to_result(payment: GatewayPayment) -> GatewayResult:
    return GatewayResult(
        gateway=payment.gateway,
        reference=payment.reference,
        payment_id=payment.payment_id,
        state=str(payment.state),
        amount_minor=payment.amount_minor,
        captured_minor=payment.captured_minor,
        refunded_minor=payment.refunded_minor,
        currency=payment.currency,
        decline_code=payment.decline_code,
    )


def _refund_result(result: RefundResult) -> GatewayRefundResult:
    return GatewayRefundResult(
        gateway=result.gateway,
        reference=result.reference,
        payment_reference=result.payment_reference,
        amount_minor=result.amount_minor,
        currency=result.currency,
        status=result.status,
    )


def to_item(txn: SettledTransaction) -> SettledItem:
    return SettledItem(
        gateway=txn.gateway,
        reference=txn.reference,
        payment_id=txn.payment_id,
        kind=txn.kind,
        amount_minor=txn.amount_minor,
        fee_minor=txn.fee_minor,
        currency=txn.currency,
        settled_at=txn.settled_at,
        refund_reference=txn.refund_reference,
    )


class GatewayActivities:
    def __init__(
        self,
        gateways: Mapping[str, CardGateway],
        router: GatewayRouter | None = None,
        *,
        search_lags: Mapping[str, float] | None = None,
    ) -> None:
        self.gateways = dict(gateways)
        self.router = router or GatewayRouter(self.gateways, [], default=next(iter(self.gateways)))
        # Settings.search_lag_bounds: carried on write failures, so the workflow's verdict
        # on an unknown outcome waits as long as the operator says this gateway lags.
        self.search_lags = dict(search_lags or {})

    def _gateway(self, name: str) -> CardGateway:
        try:
            return self.gateways[name]
        except KeyError:
            raise invalid_request(f"gateway {name!r} is not configured") from None

    async def _call(
        self,
        fn: Callable[[], T],
        *,
        mutating: bool = False,
        gateway: str | None = None,
        final: bool = False,
        final_unsent: bool = False,
    ) -> T:
        """Run an SDK call in a thread, its errors translated; those of a write to
        `gateway` carry its search lag bound, and `final` ones (`final_unsent`: those
        proving nothing was sent) are never retried by Temporal (the workflow resolves
        the outcome and decides on any resend)."""
        lag = self.search_lags.get(gateway) if gateway else None
        with translated(search_lag_s=lag, final=final, final_unsent=final_unsent):
            if not mutating:
                return await asyncio.to_thread(fn)
            try:
                return await asyncio.to_thread(fn)
            except PaysagaError:
                raise
            except Exception as exc:
                # An error the adapter does not recognise (an answer lacking a field, of an
                # unexpected type: API versions drift) may come after the gateway acted.
                # Retrying it blindly could charge again: the workflow resolves it first.
                log.warning("gateway.unrecognised_error", error=type(exc).__name__)
                raise OutcomeUnknown(
                    f"unrecognised {type(exc).__name__} after the request may have been sent",
                    gateway=getattr(exc, "gateway", "unknown"),
                ) from exc

    def _guard_resend(self, gateway: CardGateway, request: GatewayAuthorizeInput) -> None:
        """Refuse a Temporal retry of a write to a gateway that does not replay keys.

        An earlier attempt may have timed out or crashed after the gateway charged;
        without idempotency at the gateway (Braintree) and with its search lagging, the
        adapter's read-before-write cannot see that charge, so a resend could charge
        twice. The workflow resolves the unknown outcome (search past the lag bound).
        """
        if activity.info().attempt > 1 and not gateway.replays_idempotency_keys:
            raise OutcomeUnknown(
                f"attempt {activity.info().attempt}: an earlier attempt may have charged",
                gateway=request.gateway,
            )

    def activities(self) -> list[Callable[..., object]]:
        return [
            self.route,
            self.authorize,
            self.capture,
            self.cancel,
            self.refund,
            self.lookup,
            self.refund_status,
            self.list_settled,
        ]

    @activity.defn(name=names.ROUTE_PAYMENT)
    async def route(self, request: RouteRequest) -> RouteDecision:
        if request.method_type == "ach":
            # Bank debits go through Stripe (Plaid processor tokens); no failover.
            return RouteDecision(("stripe",) if "stripe" in self.gateways else ())
        order = self.router.choose(
            request.payment_id,
            request.currency,
            request.amount_minor,
            vaulted_gateway=request.preferred_gateway,
        )
        return RouteDecision(tuple(order))

    @activity.defn(name=names.AUTHORIZE)
    async def authorize(self, request: GatewayAuthorizeInput) -> GatewayResult:
        gateway = self._gateway(request.gateway)
        call = AuthorizeRequest(
            idempotency_key=request.idempotency_key,
            payment_id=request.payment_id,
            amount_minor=request.amount_minor,
            currency=request.currency,
            payment_method=request.payment_method,
            customer_ref=request.customer_ref,
            description=request.description,
            capture_now=request.capture_now,
            tag_attempt=request.tag_attempt,
        )
        debit_ach = getattr(gateway, "debit_ach", None)
        if request.method_type == "ach" and debit_ach is None:
            raise invalid_request(f"{request.gateway} does not debit bank accounts")
        with translated(search_lag_s=self.search_lags.get(request.gateway)):
            self._guard_resend(gateway, request)
        # Without idempotency keys at the gateway no failure is retried by Temporal (the
        # guard above would refuse the retry anyway): the workflow resends a refusal at
        # once and resolves anything else first.
        final = not gateway.replays_idempotency_keys
        send: Callable[[AuthorizeRequest], GatewayPayment] = gateway.authorize
        if debit_ach is not None and request.method_type == "ach":
            send = debit_ach
        payment = await self._call(
            functools.partial(send, call), mutating=True, gateway=request.gateway, final=final
        )
        log.info(
            "gateway.authorized",
            gateway=request.gateway,
            reference=payment.reference,
            state=str(payment.state),
        )
        return to_result(payment)

    @activity.defn(name=names.CAPTURE)
    async def capture(self, request: GatewayCaptureInput) -> GatewayResult:
        """Capture; safe to resend. A resend after Stripe forgot its idempotency key
        (keys are pruned after 24 hours, https://docs.stripe.com/api/idempotent_requests)
        is refused as `payment_intent_unexpected_state` although the first capture took
        the money: a refusal is read back, and a payment captured for this amount is
        this capture, done. (Braintree's 91507 is read back the same way by its adapter.)
        """
        gateway = self._gateway(request.gateway)
        try:
            payment = await self._call(
                lambda: gateway.capture(
                    request.idempotency_key, request.reference, request.amount_minor
                ),
                mutating=True,
            )
        except ApplicationError as exc:
            if exc.type != ErrorType.INVALID_REQUEST:
                raise
            payment = await self._call(lambda: gateway.retrieve(request.reference))
            captured = str(payment.state) in ("captured", "settled")
            wanted = request.amount_minor or payment.amount_minor
            if not captured or payment.captured_minor != wanted:
                raise
            log.info("gateway.capture_already_done", gateway=request.gateway)
        return to_result(payment)

    @activity.defn(name=names.CANCEL)
    async def cancel(self, request: GatewayCancelInput) -> GatewayResult:
        gateway = self._gateway(request.gateway)
        current = await self._call(lambda: gateway.retrieve(request.reference))
        if str(current.state) in ("canceled", "failed"):
            return to_result(current)  # already void: the compensation is done
        return to_result(
            await self._call(
                lambda: gateway.cancel(request.idempotency_key, request.reference), mutating=True
            )
        )

    @activity.defn(name=names.REFUND)
    async def refund(self, request: GatewayRefundInput) -> GatewayRefundResult:
        gateway = self._gateway(request.gateway)
        result = None
        find_refund: Callable[[str], RefundResult | None] | None = getattr(
            gateway, "find_refund", None
        )
        if find_refund is not None and activity.info().attempt > 1:
            result = await self._find_earlier_refund(request, find_refund)
        if result is None:
            result = await self._call(
                lambda: gateway.refund(
                    request.idempotency_key, request.reference, request.amount_minor
                ),
                mutating=True,
                gateway=request.gateway,
                final_unsent=request.workflow_resends_unsent and find_refund is not None,
            )
        return _refund_result(result)

    @activity.defn(name=names.REFUND_STATUS)
    async def refund_status(self, request: GatewayRefundStatusInput) -> GatewayRefundResult:
        """A pending refund's status, read by its id (the workflow polls it)."""
        gateway = self._gateway(request.gateway)
        return _refund_result(await self._call(lambda: gateway.retrieve_refund(request.reference)))

    async def _find_earlier_refund(
        self, request: GatewayRefundInput, find_refund: Callable[[str], RefundResult | None]
    ) -> RefundResult:
        """A retry at a gateway without idempotency keys (it offers `find_refund`): the
        earlier attempt may have refunded, and the search may not show it yet. A miss
        is not an answer, so never refund again here: the outcome is unknown, and the
        workflow resends only after waiting past the search's lag bound.
        """
        key = request.idempotency_key
        found = await self._call(lambda: find_refund(key))
        if found is None:
            with translated(search_lag_s=self.search_lags.get(request.gateway)):
                raise OutcomeUnknown(
                    "an earlier attempt may have refunded; not resent before the search "
                    "can show it",
                    gateway=request.gateway,
                )
        log.info("gateway.refund_found", gateway=request.gateway, reference=found.reference)
        return found

    @activity.defn(name=names.LOOKUP)
    async def lookup(self, request: GatewayLookupInput) -> LookupResult:
        gateway = self._gateway(request.gateway)
        if request.reference:
            reference = request.reference
            payment = await self._retrieve_if_known(gateway, reference)
        else:
            payment = await self._call(
                lambda: gateway.lookup(
                    request.payment_id, attempt_key=request.attempt_key, since=request.since
                )
            )
        return LookupResult(
            found=payment is not None, payment=to_result(payment) if payment else None
        )

    async def _retrieve_if_known(
        self, gateway: CardGateway, reference: str
    ) -> GatewayPayment | None:
        """The payment, or None when the gateway says it has no such id (a 404 for the
        resource, not for the endpoint: that one is retried, never a verdict)."""
        try:
            return await asyncio.to_thread(gateway.retrieve, reference)
        except InvalidRequest as exc:
            if exc.code != RESOURCE_MISSING:
                raise gateway_application_error(exc) from exc
            return None
        except GatewayError as exc:
            raise gateway_application_error(exc) from exc

    @activity.defn(name=names.LIST_SETTLED)
    async def list_settled(self, request: ListSettledInput) -> SettledBatch:
        gateway = self._gateway(request.gateway)
        task = asyncio.ensure_future(
            self._call(lambda: gateway.list_settled(request.period_start, request.period_end))
        )
        # Long listings: heartbeat while the SDK pages through them.
        while not task.done():
            activity.heartbeat(request.gateway)
            await asyncio.wait([task], timeout=_HEARTBEAT_EVERY_S)
        items = tuple(to_item(t) for t in task.result())
        log.info("gateway.settled_listed", gateway=request.gateway, count=len(items))
        return SettledBatch(gateway=request.gateway, items=items)
