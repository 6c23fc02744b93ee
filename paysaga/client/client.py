"""PaysagaClient: what application code imports to start and drive payments.

Async, over a Temporal client built by `config.temporal.connect_client` (so every
payload is encrypted). One instance is scoped to one merchant (`for_merchant`);
payment ids are `payment-{merchant_id}.{idempotency_key}` (see client.ids), so a
merchant can never address another merchant's payment: it gets PaymentNotFound.
The HTTP API calls exactly these methods.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import structlog
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from paysaga.client import workflow_refs as wf
from paysaga.client.control.idempotency import body_hash
from paysaga.client.errors import (
    IdempotencyConflict,
    InvalidState,
    PaymentFailed,
    PaymentNotFound,
    ServiceUnavailable,
)
from paysaga.client.ids import (
    CUSTOMER_ID_RE,
    MERCHANT_ID_RE,
    PERIOD_RE,
    check,
    merchant_of_onboarding,
    merchant_of_payment,
    onboarding_id_for,
    payment_id_for,
)
from paysaga.client.types import PaymentSummary, ReconciliationStarted
from paysaga.domain.errors import (
    InvalidAmount,
    NotFound,
    PaysagaError,
    UnknownCurrency,
    ValidationError,
)
from paysaga.domain.names import PAYMENTS_TASK_QUEUE
from paysaga.domain.onboarding import OnboardingRequest, OnboardingView, PublicTokenSubmission
from paysaga.domain.payments import (
    CancelRequest,
    CaptureRequest,
    MethodType,
    PaymentOptions,
    PaymentRequest,
    PaymentView,
)
from paysaga.domain.reconciliation import ReconciliationReport, ReconciliationRequest
from paysaga.domain.refunds import RefundOutcome, RefundRequest
from paysaga.domain.routing import DEFAULT_ROUTING, Routing
from paysaga.domain.status import PaymentStatus

log = structlog.get_logger(__name__)

T = TypeVar("T")

QUERY_TIMEOUT = timedelta(seconds=10)
FIRST_QUERY_TIMEOUT = timedelta(seconds=3)
UPDATE_TIMEOUT = timedelta(seconds=60)
REQUEST_HASH_MEMO = "request_hash"

SA_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")
SA_MERCHANT = SearchAttributeKey.for_keyword("MerchantId")
SA_CUSTOMER = SearchAttributeKey.for_keyword("CustomerId")
SA_CURRENCY = SearchAttributeKey.for_keyword("Currency")
SA_AMOUNT = SearchAttributeKey.for_int("AmountMinor")
SA_GATEWAY = SearchAttributeKey.for_keyword("Gateway")
SA_LAST_ERROR = SearchAttributeKey.for_text("LastError")

# Statuses a freshly started payment passes through before anything is decided.
UNSETTLED = frozenset({PaymentStatus.PENDING, PaymentStatus.AUTHORIZING})


class PaysagaClient:
    def __init__(
        self,
        temporal: Client,
        *,
        merchant_id: str | None = None,
        task_queue: str = PAYMENTS_TASK_QUEUE,
        routing: Routing | None = None,
        eager_start: bool = False,
    ) -> None:
        if merchant_id is not None:
            check(MERCHANT_ID_RE, merchant_id, "merchant_id", "merchant id")
        self.temporal = temporal
        self.merchant_id = merchant_id
        self.task_queue = task_queue
        self.routing = routing or DEFAULT_ROUTING
        # Eager start: the server hands the first workflow task back in the start call,
        # which only helps when a worker on this same Client polls task_queue.
        self.eager_start = eager_start

    def for_merchant(self, merchant_id: str) -> PaysagaClient:
        return PaysagaClient(
            self.temporal,
            merchant_id=merchant_id,
            task_queue=self.task_queue,
            routing=self.routing,
            eager_start=self.eager_start,
        )

    def _merchant(self) -> str:
        if self.merchant_id is None:
            raise ValidationError("this client is not scoped to a merchant", field="merchant_id")
        return self.merchant_id

    # ------------------------------------------------------------------ payments
    async def create_payment(
        self,
        *,
        idempotency_key: str,
        amount_minor: int,
        currency: str,
        customer_id: str,
        payment_method: str,
        method_type: MethodType = "card",
        capture: bool = True,
        gateway: str | None = None,
        description: str = "",
        wait: timedelta | None = None,
        options: PaymentOptions | None = None,
    ) -> PaymentView:
        """Start the payment's workflow; the same key returns the same payment.

        `options` overrides timings per payment (dunning schedule, authorization expiry).

        The same key with a different request raises IdempotencyConflict. With `wait`,
        returns once the payment left pending/authorizing (or the wait is over).
        """
        merchant_id = self._merchant()
        payment_id = payment_id_for(merchant_id, idempotency_key)
        check(CUSTOMER_ID_RE, customer_id, "customer_id", "customer id")
        request = PaymentRequest(
            idempotency_key=payment_id.removeprefix("payment-"),
            merchant_id=merchant_id,
            customer_id=customer_id,
            amount_minor=amount_minor,
            currency=currency,
            payment_method=payment_method,
            method_type=method_type,
            capture_mode="automatic" if capture else "manual",
            preferred_gateway=gateway,
            description=description,
            routing=self.routing,
            options=options or PaymentOptions(),
        )
        request.validate()
        digest = request_digest(request)
        started = False
        try:
            await self.temporal.start_workflow(
                wf.PAYMENT_WORKFLOW,
                request,
                id=payment_id,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                request_eager_start=self.eager_start,
                memo={REQUEST_HASH_MEMO: digest},
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(SA_STATUS, PaymentStatus.PENDING.value),
                        SearchAttributePair(SA_MERCHANT, merchant_id),
                        SearchAttributePair(SA_CUSTOMER, customer_id),
                        SearchAttributePair(SA_CURRENCY, currency),
                        SearchAttributePair(SA_AMOUNT, amount_minor),
                    ]
                ),
            )
            started = True
            log.info("payment.started", payment_id=payment_id, merchant_id=merchant_id)
        except WorkflowAlreadyStartedError:
            await self._check_same_request(payment_id, digest)
            log.info("payment.replayed", payment_id=payment_id, merchant_id=merchant_id)
        except RPCError as exc:
            raise _unavailable(exc) from exc
        if wait is not None:
            return await self.wait_for_payment(
                payment_id, lambda v: v.status not in UNSETTLED, wait
            )
        if started:
            # Just started: pending by construction. A query here would cost the server a
            # query task and the worker a decode per payment to say the same thing.
            return _pending_view(payment_id, request)
        try:
            return await self.get_payment(payment_id, timeout=FIRST_QUERY_TIMEOUT)
        except ServiceUnavailable:
            # Started, but no worker has run it yet: it is pending, which is the truth.
            return _pending_view(payment_id, request)

    async def _check_same_request(self, payment_id: str, digest: str) -> None:
        try:
            desc = await self.temporal.get_workflow_handle(payment_id).describe()
        except RPCError as exc:
            raise _unavailable(exc) from exc
        stored = await desc.memo_value(REQUEST_HASH_MEMO, default=None)
        if stored != digest:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different request",
                field="Idempotency-Key",
            )

    def _payment_handle(self, payment_id: str) -> WorkflowHandle[Any, Any]:
        """The payment's handle if it is this merchant's; otherwise not found."""
        owner = merchant_of_payment(payment_id) if isinstance(payment_id, str) else None
        if owner is None or (self.merchant_id is not None and owner != self.merchant_id):
            raise PaymentNotFound(f"no payment {str(payment_id)[:120]!r}", field="payment_id")
        return self.temporal.get_workflow_handle(payment_id)

    async def get_payment(
        self, payment_id: str, *, timeout: timedelta = QUERY_TIMEOUT
    ) -> PaymentView:
        handle = self._payment_handle(payment_id)
        view: PaymentView = await _call(
            lambda: handle.query(wf.STATUS_QUERY, result_type=PaymentView, rpc_timeout=timeout),
            payment_id,
        )
        if self.merchant_id is not None and view.merchant_id != self.merchant_id:
            raise PaymentNotFound(f"no payment {payment_id!r}", field="payment_id")
        return view

    async def wait_for_payment(
        self,
        payment_id: str,
        done: Callable[[PaymentView], bool],
        timeout: timedelta,
        interval: float = 0.2,
    ) -> PaymentView:
        """Poll the status query until `done(view)` or the timeout; returns the last view."""
        deadline = asyncio.get_running_loop().time() + timeout.total_seconds()
        while True:
            view = await self.get_payment(payment_id)
            if done(view) or asyncio.get_running_loop().time() >= deadline:
                return view
            await asyncio.sleep(interval)

    async def capture(
        self, payment_id: str, amount_minor: int | None = None, *, request_id: str | None = None
    ) -> PaymentView:
        """Capture an authorized payment (all of it by default). Repeating is harmless."""
        handle = self._payment_handle(payment_id)
        await self.get_payment(payment_id)  # ownership check before acting
        request = CaptureRequest(request_id=request_id or "capture", amount_minor=amount_minor)
        await _call(
            lambda: handle.execute_update(
                wf.CAPTURE_UPDATE,
                request,
                id=f"capture-{request.request_id}",
                rpc_timeout=UPDATE_TIMEOUT,
            ),
            payment_id,
        )
        return await self.get_payment(payment_id)

    async def cancel(
        self,
        payment_id: str,
        reason: str = "requested_by_customer",
        *,
        request_id: str | None = None,
    ) -> PaymentView:
        handle = self._payment_handle(payment_id)
        await self.get_payment(payment_id)
        request = CancelRequest(request_id=request_id or "cancel", reason=reason)
        await _call(
            lambda: handle.execute_update(
                wf.CANCEL_UPDATE,
                request,
                id=f"cancel-{request.request_id}",
                rpc_timeout=UPDATE_TIMEOUT,
            ),
            payment_id,
        )
        return await self.get_payment(payment_id)

    async def refund(
        self,
        payment_id: str,
        amount_minor: int,
        *,
        reason: str = "",
        request_id: str | None = None,
    ) -> RefundOutcome:
        """Refund part or all of a captured payment.

        `request_id` makes the refund idempotent (the update id); without one each
        call is a new refund.
        """
        handle = self._payment_handle(payment_id)
        view = await self.get_payment(payment_id)
        request = RefundRequest(
            request_id=request_id or uuid.uuid4().hex,
            amount_minor=amount_minor,
            currency=view.currency,
            reason=reason,
        )
        outcome: RefundOutcome = await _call(
            lambda: handle.execute_update(
                wf.REFUND_UPDATE,
                request,
                id=f"refund-{request.request_id}",
                result_type=RefundOutcome,
                rpc_timeout=UPDATE_TIMEOUT,
            ),
            payment_id,
        )
        return outcome

    async def list_payments(
        self,
        *,
        status: str | None = None,
        customer: str | None = None,
        limit: int = 100,
    ) -> list[PaymentSummary]:
        """Payments from visibility (search attributes), newest first."""
        clauses = [f"WorkflowType = '{wf.PAYMENT_WORKFLOW}'"]
        if self.merchant_id is not None:
            clauses.append(f"MerchantId = '{self.merchant_id}'")
        if status is not None:
            if status not in PaymentStatus.__members__.values():
                raise ValidationError(f"unknown status {status[:50]!r}", field="status")
            clauses.append(f"PaymentStatus = '{status}'")
        if customer is not None:
            check(CUSTOMER_ID_RE, customer, "customer", "customer id")
            clauses.append(f"CustomerId = '{customer}'")
        if not 1 <= limit <= 1000:
            raise ValidationError("limit must be between 1 and 1000", field="limit")
        query = " AND ".join(clauses)
        try:
            return [
                _summary(execution)
                async for execution in self.temporal.list_workflows(query, limit=limit)
            ]
        except RPCError as exc:
            raise _unavailable(exc) from exc

    # ---------------------------------------------------------------- onboarding
    async def start_onboarding(
        self,
        *,
        idempotency_key: str,
        customer_id: str,
        legal_name: str,
        email: str,
        currency: str = "USD",
        wait: timedelta = timedelta(seconds=10),
    ) -> OnboardingView:
        """Start bank-account onboarding; returns once the Plaid link token exists (or `wait`)."""
        merchant_id = self._merchant()
        onboarding_id = onboarding_id_for(merchant_id, idempotency_key)
        check(CUSTOMER_ID_RE, customer_id, "customer_id", "customer id")
        request = OnboardingRequest(
            onboarding_id=onboarding_id,
            customer_id=customer_id,
            legal_name=legal_name,
            email=email,
            currency=currency,
            routing=self.routing,
        )
        request.validate()
        digest = request_digest(request)
        try:
            await self.temporal.start_workflow(
                wf.ONBOARDING_WORKFLOW,
                request,
                id=onboarding_id,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                request_eager_start=self.eager_start,
                memo={REQUEST_HASH_MEMO: digest},
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(SA_MERCHANT, merchant_id),
                        SearchAttributePair(SA_CUSTOMER, customer_id),
                    ]
                ),
            )
        except WorkflowAlreadyStartedError:
            await self._check_same_request(onboarding_id, digest)
        except RPCError as exc:
            raise _unavailable(exc) from exc
        deadline = asyncio.get_running_loop().time() + wait.total_seconds()
        while True:
            view = await self.get_onboarding(onboarding_id)
            if view.link_token or asyncio.get_running_loop().time() >= deadline:
                return view
            await asyncio.sleep(0.2)

    def _onboarding_handle(self, onboarding_id: str) -> WorkflowHandle[Any, Any]:
        owner = merchant_of_onboarding(onboarding_id) if isinstance(onboarding_id, str) else None
        if owner is None or (self.merchant_id is not None and owner != self.merchant_id):
            raise NotFound(f"no onboarding {str(onboarding_id)[:120]!r}", field="onboarding_id")
        return self.temporal.get_workflow_handle(onboarding_id)

    async def get_onboarding(self, onboarding_id: str) -> OnboardingView:
        handle = self._onboarding_handle(onboarding_id)
        view: OnboardingView = await _call(
            lambda: handle.query(
                wf.STATUS_QUERY, result_type=OnboardingView, rpc_timeout=QUERY_TIMEOUT
            ),
            onboarding_id,
        )
        return view

    async def complete_onboarding(
        self, onboarding_id: str, public_token: str, account_id: str | None = None
    ) -> OnboardingView:
        """Hand over the public token from Plaid Link; returns the view after the update."""
        handle = self._onboarding_handle(onboarding_id)
        submission = PublicTokenSubmission(public_token=public_token, account_id=account_id)
        await _call(
            lambda: handle.execute_update(
                wf.PUBLIC_TOKEN_UPDATE,
                submission,
                id=f"public-token-{body_hash(public_token)[:16]}",
                rpc_timeout=UPDATE_TIMEOUT,
            ),
            onboarding_id,
        )
        return await self.get_onboarding(onboarding_id)

    # ------------------------------------------------------------ reconciliation
    async def reconcile(self, period: str | date) -> ReconciliationStarted:
        """Start reconciliation of one UTC day; a second call for the same day attaches."""
        day = period if isinstance(period, date) else _parse_day(period)
        start = datetime.combine(day, time.min, tzinfo=UTC)
        reconciliation_id = f"reconciliation-{day.isoformat()}"
        request = ReconciliationRequest(
            period_start=start,
            period_end=start + timedelta(days=1),
            report_id=reconciliation_id,
            routing=self.routing,
        )
        try:
            await self.temporal.start_workflow(
                wf.RECONCILIATION_WORKFLOW,
                request,
                id=reconciliation_id,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            )
            already = False
        except WorkflowAlreadyStartedError:
            already = True
        except RPCError as exc:
            raise _unavailable(exc) from exc
        return ReconciliationStarted(reconciliation_id, day.isoformat(), already)

    async def reconciliation_result(
        self, reconciliation_id: str, timeout: timedelta = timedelta(minutes=2)
    ) -> ReconciliationReport:
        handle = self.temporal.get_workflow_handle(
            reconciliation_id, result_type=ReconciliationReport
        )
        report: ReconciliationReport = await asyncio.wait_for(
            handle.result(), timeout.total_seconds()
        )
        return report


def request_digest(request: object) -> str:
    """Hash of a request dataclass, to tell a replay from a conflicting reuse of a key."""
    from dataclasses import asdict

    return body_hash(asdict(request))  # type: ignore[call-overload]


def _pending_view(payment_id: str, request: PaymentRequest) -> PaymentView:
    return PaymentView(
        payment_id=payment_id,
        status=PaymentStatus.PENDING,
        amount_minor=request.amount_minor,
        currency=request.currency,
        method_type=request.method_type,
        capture_mode=request.capture_mode,
        merchant_id=request.merchant_id,
        customer_id=request.customer_id,
    )


def _parse_day(value: str) -> date:
    check(PERIOD_RE, value, "period", "date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a calendar date", field="period") from None


def _summary(execution: WorkflowExecution) -> PaymentSummary:
    attrs = execution.typed_search_attributes
    return PaymentSummary(
        payment_id=execution.id,
        status=attrs.get(SA_STATUS),
        amount_minor=attrs.get(SA_AMOUNT),
        currency=attrs.get(SA_CURRENCY),
        customer_id=attrs.get(SA_CUSTOMER),
        gateway=attrs.get(SA_GATEWAY),
        merchant_id=attrs.get(SA_MERCHANT),
        last_error=attrs.get(SA_LAST_ERROR),
        started_at=execution.start_time,
        running=execution.close_time is None,
    )


def _unavailable(exc: RPCError) -> PaysagaError:
    return ServiceUnavailable(f"Temporal did not answer: {exc.status.name}")


def _application_error(exc: BaseException) -> ApplicationError | None:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ApplicationError):
            return cause
        cause = cause.__cause__
    return None


def _rejection(exc: BaseException) -> PaysagaError:
    """An update/query rejected by the workflow -> our typed error."""
    app = _application_error(exc)
    message = app.message if app else str(exc)
    field = None
    if app and app.details and isinstance(app.details[0], dict):
        raw_field = app.details[0].get("field")
        field = raw_field if isinstance(raw_field, str) else None
    kind = app.type if app else None
    if kind in ("conflict", "InvalidState", "Conflict") or "in status" in message:
        return InvalidState(message, field=field or "status")
    if kind == "capture_failed":
        return PaymentFailed(message, field=field)
    if kind in (InvalidAmount.code, UnknownCurrency.code):
        return (InvalidAmount if kind == InvalidAmount.code else UnknownCurrency)(
            message, field=field or ("amount_minor" if kind == InvalidAmount.code else "currency")
        )
    return ValidationError(message, field=field)


async def _call(action: Callable[[], Awaitable[T]], resource_id: str) -> T:
    """Run a query/update, translating Temporal's errors into ours."""
    try:
        return await action()
    except WorkflowUpdateFailedError as exc:
        raise _rejection(exc) from exc
    except WorkflowQueryFailedError as exc:
        raise ServiceUnavailable(f"status query failed: {exc}") from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            if "completed" in exc.message.lower():
                raise InvalidState(
                    f"{resource_id} has finished; it cannot change any more", field="status"
                ) from exc
            raise PaymentNotFound(f"no payment {resource_id!r}", field="payment_id") from exc
        raise _unavailable(exc) from exc
