"""PaymentWorkflow: one per payment, id `payment-{idempotency_key}`.

Lifecycle: validate -> route -> ledger hold -> authorize (dunning on soft declines,
lookup on unknown outcomes, failover between gateways) -> capture now or on a
`capture` Update (authorization expiry voids) -> post the ledger entry -> stay open
for refunds, webhooks and ACH returns until the refund window ends.

Starting twice with the same id: every caller starts through
`paysaga.client.starts.start_payment`, which has Temporal refuse a second start (running
or closed) and answers it with the existing payment if the request is the same (its
digest is in the memo), IdempotencyConflict if not.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.errors import PaysagaError
    from paysaga.domain.events import EventKind, GatewayEvent
    from paysaga.domain.gateways import (
        GatewayAuthorizeInput,
        GatewayCancelInput,
        GatewayCaptureInput,
        GatewayLookupInput,
        GatewayRefundInput,
        GatewayRefundResult,
        GatewayResult,
        RouteRequest,
    )
    from paysaga.domain.ledger import (
        LedgerCaptureInput,
        LedgerEntryRef,
        LedgerHoldInput,
        LedgerReversalInput,
        LedgerVoidInput,
    )
    from paysaga.domain.names import gateway_idempotency_key
    from paysaga.domain.payments import (
        CancelRequest,
        CaptureRequest,
        PaymentRequest,
        PaymentView,
        StepRecord,
        check_cancel,
        check_capture,
    )
    from paysaga.domain.refunds import RefundOutcome, RefundRecord, RefundRequest, check_refund
    from paysaga.domain.status import PaymentStatus, is_final, may_advance
    from workflows import calls, policies
    from workflows.failures import Failure, PaymentFailure, classify
    from workflows.saga import Saga
    from workflows.search import (
        AMOUNT_MINOR,
        CURRENCY,
        CUSTOMER_ID,
        GATEWAY,
        LAST_ERROR,
        MERCHANT_ID,
        PAYMENT_STATUS,
        SearchAttributes,
    )

# Events remembered for deduplication across continue-as-new (most recent kept).
_SEEN_EVENTS_KEPT = 1000
_LOOKUP_ROUNDS = 3  # outcome-unknown resolutions before giving up on one attempt
# Runs from this patch on skip the upserts of values the client set at start (two history
# events and two visibility writes per payment); older histories replay without it.
_SEED_SEARCH_PATCH = "seed-search-attributes-from-start"
_LOOKUP_BEFORE_FAILOVER_PATCH = "lookup-before-failover"
_REFUND_CAPTURED_PATCH = "refund-captured-charge-on-compensation"


def _rejected(exc: PaysagaError) -> ApplicationError:
    return ApplicationError(exc.message, type=exc.code, non_retryable=True)


@workflow.defn(name="PaymentWorkflow")
class PaymentWorkflow:
    @workflow.init
    def __init__(self, request: PaymentRequest) -> None:
        # Built in __init__ so signals and updates delivered with the start see a state.
        self._request = request
        self._payment_id = workflow.info().workflow_id
        self._search = SearchAttributes()
        self._lock = asyncio.Lock()  # one update (refund / return) touches money at a time
        self._seen: dict[str, None] = {}  # ordered set of event ids
        self._events_this_run = 0
        self._webhook_payment: GatewayEvent | None = None
        self._capture_request: CaptureRequest | None = None
        self._capture_error: str | None = None
        self._cancel_request: CancelRequest | None = None
        self._external_cancel = False
        self._ach_settled = False
        self._ach_return: GatewayEvent | None = None
        self._reserved_minor = 0  # refunds accepted but not yet applied
        self._refund_outcomes: dict[str, RefundOutcome] = {}
        self._refunds_in_flight: set[str] = set()
        self._view = self._initial_view(request, request.carried)

    def _initial_view(self, request: PaymentRequest, resume: PaymentView | None) -> PaymentView:
        if resume is None:
            return PaymentView(
                payment_id=self._payment_id,
                status=PaymentStatus.PENDING,
                amount_minor=request.amount_minor,
                currency=request.currency,
                method_type=request.method_type,
                capture_mode=request.capture_mode,
                merchant_id=request.merchant_id,
                customer_id=request.customer_id,
            )
        self._seen = dict.fromkeys(resume.events_seen)
        for record in resume.refunds:
            self._refund_outcomes[record.request_id] = RefundOutcome(
                record.request_id,
                record.reference,
                record.amount_minor,
                resume.currency,
                record.status,
                resume.refunded_minor,
            )
        return replace(resume, runs=resume.runs + 1)

    # ------------------------------------------------------------------ state

    @property
    def view(self) -> PaymentView:
        return self._view

    def _update(self, **changes: object) -> None:
        self._view = replace(self.view, **changes)  # type: ignore[arg-type]
        self._publish()

    def _step(self, name: str, detail: str = "") -> None:
        record = StepRecord(name=name, at=workflow.now(), detail=detail)
        self._view = replace(self.view, steps=(*self.view.steps, record))

    def _set_status(self, status: PaymentStatus, **changes: object) -> None:
        self._update(status=status, **changes)
        self._step(f"status:{status}")

    def _publish(self) -> None:
        view = self.view
        self._search.upsert(
            {
                PAYMENT_STATUS: str(view.status),
                GATEWAY: view.gateway,
                LAST_ERROR: view.last_error,
            }
        )

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, request: PaymentRequest) -> PaymentView:
        if workflow.patched(_SEED_SEARCH_PATCH):
            self._search.seed(
                workflow.info().typed_search_attributes,
                [
                    AMOUNT_MINOR,
                    CURRENCY,
                    CUSTOMER_ID,
                    MERCHANT_ID,
                    PAYMENT_STATUS,
                    GATEWAY,
                    LAST_ERROR,
                ],
            )
        self._search.upsert(
            {
                AMOUNT_MINOR: request.amount_minor,
                CURRENCY: request.currency,
                CUSTOMER_ID: request.customer_id,
                MERCHANT_ID: request.merchant_id,
            }
        )
        self._publish()
        if request.carried is None:
            try:
                request.validate()
            except PaysagaError as exc:
                self._set_status(PaymentStatus.FAILED, last_error=f"{exc.code}: {exc.message}")
                return self.view
            await self._charge()
        if not is_final(self.view.status):
            await self._serve()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view

    # ------------------------------------------------------------------ charge

    async def _charge(self) -> None:
        request = self._request
        saga = Saga()
        try:
            decision = await calls.route(
                request.routing,
                RouteRequest(
                    payment_id=self._payment_id,
                    amount_minor=request.amount_minor,
                    currency=request.currency,
                    method_type=request.method_type,
                    preferred_gateway=request.preferred_gateway,
                ),
            )
            if not decision.gateways:
                raise PaymentFailure("no gateway accepts this payment")
            result: GatewayResult | None = None
            for index, gateway in enumerate(decision.gateways):
                try:
                    result = await self._attempt_gateway(gateway, saga)
                    break
                except _FailOver as exc:
                    if index == len(decision.gateways) - 1:
                        raise PaymentFailure(exc.failure.reason()) from exc
                    self._step("failover", f"{gateway}: {exc.failure.reason()}")
                    await saga.compensate()
                    saga = Saga()
                    if self.view.capture_entry_id is not None:
                        # The first gateway's charge was captured and refunded (its
                        # refund stays listed); the next gateway's charge starts afresh.
                        self._update(captured_minor=0, refunded_minor=0, capture_entry_id=None)
            assert result is not None
            await self._after_authorization(result, saga)
            saga.clear()
        except PaymentFailure as failure:
            self._update(last_error=failure.reason, next_retry_at=None)
            self._step("compensating", failure.reason)
            await saga.compensate()
            status = PaymentStatus(failure.status)
            self._set_status(status)
        except ActivityError as exc:
            # A step that is not a gateway decision failed for good (ledger refused, ...).
            reason = classify(exc).reason()
            self._update(last_error=reason, next_retry_at=None)
            self._step("compensating", reason)
            await saga.compensate()
            self._set_status(PaymentStatus.FAILED)

    async def _attempt_gateway(self, gateway: str, saga: Saga) -> GatewayResult:
        request = self._request
        self._update(gateway=gateway)
        saga.add("void_hold", self._void_hold)
        hold = await calls.ledger_hold(
            request.routing,
            LedgerHoldInput(
                payment_id=self._payment_id,
                idempotency_key=gateway_idempotency_key(self._payment_id, f"hold-{gateway}"),
                merchant_id=request.merchant_id,
                customer_id=request.customer_id,
                gateway=gateway,
                amount_minor=request.amount_minor,
                currency=request.currency,
            ),
        )
        self._update(hold_entry_id=hold.entry_id)
        self._step("ledger_hold", hold.entry_id)
        saga.add("cancel_authorization", self._cancel_authorization)
        return await self._authorize_with_dunning(gateway)

    async def _authorize_with_dunning(self, gateway: str) -> GatewayResult:
        schedule = policies.dunning_schedule(self._request.options)
        first_attempt_at = workflow.now()
        for retry_index in range(len(schedule) + 1):
            self._set_status(PaymentStatus.AUTHORIZING, next_retry_at=None)
            self._update(attempts=self.view.attempts + 1)
            step = f"authorize-{self.view.attempts}"
            try:
                result = await self._authorize_once(gateway, step)
            except _Declined as declined:
                failure = declined.failure
                self._update(last_error=failure.reason(), decline_code=failure.decline_code)
                self._step("declined", failure.reason())
                if not failure.soft:
                    raise PaymentFailure(f"hard decline: {failure.reason()}") from declined
                if retry_index == len(schedule):
                    raise PaymentFailure(
                        f"soft decline, dunning exhausted after {self.view.attempts} attempts: "
                        f"{failure.reason()}"
                    ) from declined
                await self._wait_for_retry(first_attempt_at + schedule[retry_index])
                continue
            self._update(last_error=None, decline_code=None)
            return result
        raise AssertionError("unreachable")

    async def _wait_for_retry(self, at: datetime) -> None:
        self._set_status(PaymentStatus.RETRY_SCHEDULED, next_retry_at=at)
        delay = max(at - workflow.now(), timedelta(0))
        try:
            await workflow.wait_condition(lambda: self._cancel_request is not None, timeout=delay)
        except TimeoutError:
            return
        raise PaymentFailure(self._cancel_reason(), status=PaymentStatus.CANCELED)

    async def _authorize_once(self, gateway: str, step: str) -> GatewayResult:
        request = self._request
        attempt = GatewayAuthorizeInput(
            gateway=gateway,
            idempotency_key=gateway_idempotency_key(self._payment_id, step),
            payment_id=self._payment_id,
            amount_minor=request.amount_minor,
            currency=request.currency,
            payment_method=request.payment_method,
            capture_now=request.capture_mode == "automatic",
            customer_ref=request.customer_ref,
            description=request.description,
            method_type=request.method_type,
        )
        for _ in range(_LOOKUP_ROUNDS):
            self._webhook_payment = None
            handle = calls.start_authorize(request.routing, attempt)
            # Card payments confirm on the gateway response or the webhook, whichever
            # comes first; a late response is then ignored.
            await workflow.wait_condition(
                lambda h=handle: h.done() or self._webhook_payment is not None  # type: ignore[misc]
            )
            if not handle.done():
                handle.add_done_callback(_consume)
                event = self._webhook_payment
                assert event is not None
                self._step("confirmed_by_webhook", event.event_id)
                return self._result_from_event(gateway, event)
            try:
                result = handle.result()
            except ActivityError as exc:
                failure = classify(exc)
                if failure.type == "Declined":
                    raise _Declined(failure) from exc
                if failure.outcome_unknown:
                    self._step("outcome_unknown", failure.reason())
                    found = await self._lookup(gateway)
                    if found is None:
                        # Never reached the gateway: retry with the same idempotency key.
                        self._step("lookup", "not found; retrying")
                        continue
                    self._step("lookup", f"found {found.reference} {found.state}")
                    result = found
                elif failure.failover or failure.type in ("Unavailable", "RateLimited"):
                    found = await self._charged_despite(failure, gateway)
                    if found is None:
                        raise _FailOver(failure) from exc
                    result = found
                else:
                    raise PaymentFailure(failure.reason()) from exc
            if result.state == "failed":
                soft = False
                raise _Declined(
                    Failure("Declined", "the gateway failed the payment", result.decline_code, soft)
                )
            self._step("authorized", f"{result.reference} {result.state}")
            return result
        raise PaymentFailure("outcome unknown: the gateway never confirmed the authorization")

    async def _charged_despite(self, failure: Failure, gateway: str) -> GatewayResult | None:
        """The payment at the gateway after a call that failed as unavailable, if any.

        The activity's last attempt decides the failure's type, but an earlier attempt
        may have timed out after the gateway processed it (and a 5xx itself does not
        prove nothing happened). Failing over or failing then would leave the customer
        charged with no payment of ours behind it, so we ask the gateway first.
        """
        if not workflow.patched(_LOOKUP_BEFORE_FAILOVER_PATCH):
            return None
        found = await self._lookup(gateway)
        if found is None or found.state in ("failed", "canceled"):
            return None
        self._step("lookup", f"found {found.reference} {found.state} after {failure.type}")
        return found

    async def _lookup(self, gateway: str) -> GatewayResult | None:
        found = await calls.lookup(
            self._request.routing,
            GatewayLookupInput(gateway=gateway, payment_id=self._payment_id),
        )
        return found.payment if found.found else None

    def _result_from_event(self, gateway: str, event: GatewayEvent) -> GatewayResult:
        captured = event.kind == EventKind.PAYMENT_CAPTURED
        amount = event.amount_minor or self._request.amount_minor
        return GatewayResult(
            gateway=gateway,
            reference=event.reference or "",
            payment_id=self._payment_id,
            state="captured" if captured else "authorized",
            amount_minor=amount,
            captured_minor=amount if captured else 0,
            refunded_minor=0,
            currency=self._request.currency,
        )

    async def _after_authorization(self, result: GatewayResult, saga: Saga) -> None:
        self._update(reference=result.reference, authorized_minor=result.amount_minor)
        if result.state == "requires_action":
            result = await self._wait_for_customer_action(result)
        if result.state == "authorized":
            result = await self._await_capture(result)
        if result.state == "processing":
            await self._post_capture(result.amount_minor)
            await self._await_ach_settlement()
            return
        if result.state in ("captured", "settled"):
            await self._post_capture(result.captured_minor or result.amount_minor)
            settled = result.state == "settled"
            self._set_status(PaymentStatus.SETTLED if settled else PaymentStatus.CAPTURED)
            return
        raise PaymentFailure(f"unexpected gateway state {result.state}")

    async def _wait_for_customer_action(self, result: GatewayResult) -> GatewayResult:
        self._set_status(PaymentStatus.REQUIRES_ACTION)
        try:
            await workflow.wait_condition(
                lambda: self._webhook_payment is not None or self._cancel_request is not None,
                timeout=policies.DEFAULT_REQUIRES_ACTION_WAIT,
            )
        except TimeoutError:
            raise PaymentFailure("customer action not completed in time") from None
        if self._cancel_request is not None:
            raise PaymentFailure(self._cancel_reason(), status=PaymentStatus.CANCELED)
        event = self._webhook_payment
        assert event is not None
        if event.kind == EventKind.PAYMENT_FAILED:
            raise PaymentFailure(f"customer action failed: {event.data.get('reason', 'failed')}")
        return self._result_from_event(result.gateway, event)

    async def _await_capture(self, result: GatewayResult) -> GatewayResult:
        expires_at = workflow.now() + policies.authorization_expiry(self._request.options)
        if self._request.capture_mode == "automatic":
            # Confirmed as authorized only (e.g. by webhook): capture without waiting.
            self._capture_request = CaptureRequest(request_id="automatic")
        else:
            self._set_status(PaymentStatus.AWAITING_CAPTURE, authorization_expires_at=expires_at)
        try:
            await workflow.wait_condition(
                lambda: (
                    self._capture_request is not None
                    or self._cancel_request is not None
                    or self._external_cancel
                ),
                timeout=expires_at - workflow.now(),
            )
        except TimeoutError:
            raise PaymentFailure("authorization_expired", status=PaymentStatus.CANCELED) from None
        if self._cancel_request is not None or self._external_cancel:
            raise PaymentFailure(self._cancel_reason(), status=PaymentStatus.CANCELED)
        capture = self._capture_request
        assert capture is not None
        self._set_status(PaymentStatus.CAPTURING)
        try:
            captured = await calls.capture(
                self._request.routing,
                GatewayCaptureInput(
                    gateway=result.gateway,
                    idempotency_key=gateway_idempotency_key(self._payment_id, "capture"),
                    reference=result.reference,
                    amount_minor=capture.amount_minor,
                ),
            )
        except ActivityError as exc:
            self._capture_error = classify(exc).reason()
            raise PaymentFailure(f"capture failed: {self._capture_error}") from exc
        self._step("captured", f"{captured.captured_minor}")
        return captured

    async def _post_capture(self, amount_minor: int) -> None:
        view = self.view
        assert view.gateway is not None and view.reference is not None
        entry = await calls.ledger_capture(
            self._request.routing,
            LedgerCaptureInput(
                payment_id=self._payment_id,
                idempotency_key=gateway_idempotency_key(self._payment_id, "capture"),
                hold_entry_id=view.hold_entry_id,
                merchant_id=self._request.merchant_id,
                gateway=view.gateway,
                gateway_reference=view.reference,
                amount_minor=amount_minor,
                currency=self._request.currency,
            ),
        )
        self._update(captured_minor=amount_minor, capture_entry_id=entry.entry_id)
        self._step("ledger_capture", entry.entry_id)

    async def _reverse_capture(
        self, step: str, amount_minor: int, reason: str, *, refund_reference: str | None = None
    ) -> LedgerEntryRef:
        """Reverse (part of) the captured charge in the ledger: a refund or an ACH return.

        `step` names it in the idempotency key, so a retried step reverses once.
        """
        view = self.view
        assert view.gateway is not None and view.reference is not None
        return await calls.ledger_reverse(
            self._request.routing,
            LedgerReversalInput(
                payment_id=self._payment_id,
                idempotency_key=gateway_idempotency_key(self._payment_id, step),
                merchant_id=self._request.merchant_id,
                gateway=view.gateway,
                gateway_reference=view.reference,
                amount_minor=amount_minor,
                currency=view.currency,
                reason=reason,
                refund_reference=refund_reference,
                entry_id=view.capture_entry_id,
            ),
        )

    async def _await_ach_settlement(self) -> None:
        self._set_status(PaymentStatus.PROCESSING)
        wait = policies.ach_settlement_wait(self._request.options)
        while True:
            try:
                await workflow.wait_condition(
                    lambda: self._ach_settled or self._ach_return is not None, timeout=wait
                )
            except TimeoutError:
                # No webhook in the expected window: ask the gateway.
                view = self.view
                assert view.gateway is not None
                found = await calls.lookup(
                    self._request.routing,
                    GatewayLookupInput(view.gateway, self._payment_id, view.reference),
                )
                state = found.payment.state if found.payment else "missing"
                self._step("ach_status_checked", state)
                if state == "settled":
                    self._ach_settled = True
                elif state == "failed" and found.payment:
                    code = found.payment.decline_code or "unknown"
                    await self._apply_ach_return(code, "lookup")
                    return
                else:
                    continue
            if self._ach_return is not None:
                event = self._ach_return
                await self._apply_ach_return(event.data.get("return_code", "R01"), event.event_id)
                return
            self._set_status(PaymentStatus.SETTLED)
            return

    async def _apply_ach_return(self, return_code: str, source: str) -> None:
        async with self._lock:
            view = self.view
            remaining = view.captured_minor - view.refunded_minor
            if remaining > 0:
                entry = await self._reverse_capture("ach-return", remaining, "ach_return")
                self._step("ledger_reversal", f"{entry.entry_id} ach return {return_code}")
            self._set_status(
                PaymentStatus.RETURNED, last_error=f"ach_return: {return_code} ({source})"
            )

    # ------------------------------------------------------------------ compensations

    async def _void_hold(self) -> None:
        entry_id = self.view.hold_entry_id
        if entry_id is None:
            return
        await calls.ledger_void(
            self._request.routing,
            LedgerVoidInput(
                payment_id=self._payment_id,
                idempotency_key=gateway_idempotency_key(self._payment_id, f"void-{entry_id}"),
                entry_id=entry_id,
            ),
        )
        self._update(hold_entry_id=None)
        self._step("ledger_void", entry_id)

    async def _cancel_authorization(self) -> None:
        view = self.view
        assert view.gateway is not None
        reference = view.reference
        if reference is None:
            # We never learned of an authorization; make sure none exists at the gateway.
            found = await self._lookup(view.gateway)
            if found is None or found.state in ("failed", "canceled"):
                return
            reference = found.reference
        try:
            await calls.cancel(
                self._request.routing,
                GatewayCancelInput(
                    gateway=view.gateway,
                    idempotency_key=gateway_idempotency_key(self._payment_id, "cancel"),
                    reference=reference,
                ),
                compensating=True,
            )
        except ActivityError as exc:
            # Refused: the gateway captured (or settled) the charge, which can no longer
            # be voided; only a refund gives the money back.
            if classify(exc).type != "InvalidRequest" or not workflow.patched(
                _REFUND_CAPTURED_PATCH
            ):
                raise
            found = await self._lookup(view.gateway)
            if found is None or found.state not in ("captured", "settled"):
                raise
            await self._refund_captured(found)
            return
        self._step("authorization_voided", reference)

    async def _refund_captured(self, found: GatewayResult) -> None:
        """Book a charge the gateway took although the payment failed, and refund it.

        The ledger must show what the gateway did (capture, then refund), or
        reconciliation finds a settled charge that is missing in the ledger.
        """
        amount = found.captured_minor or found.amount_minor
        self._update(reference=found.reference)
        if self.view.capture_entry_id is None:
            await self._post_capture(amount)  # posts the hold (a direct charge without one)
            self._update(hold_entry_id=None)  # posted: void_hold has nothing left to undo
        refunded = await calls.refund(
            self._request.routing,
            GatewayRefundInput(
                gateway=found.gateway,
                idempotency_key=gateway_idempotency_key(self._payment_id, "compensate-refund"),
                reference=found.reference,
                amount_minor=amount,
            ),
        )
        entry = await self._reverse_capture(
            "compensate-refund", amount, "refund", refund_reference=refunded.reference
        )
        view = self.view
        record = RefundRecord(
            "compensation", amount, refunded.reference, refunded.status, workflow.now()
        )
        self._update(refunded_minor=amount, refunds=(*view.refunds, record))
        self._step("captured_charge_refunded", f"{amount} {refunded.reference} {entry.entry_id}")

    def _cancel_reason(self) -> str:
        if self._cancel_request is not None:
            return f"canceled: {self._cancel_request.reason}"
        return "canceled at the gateway"

    # ------------------------------------------------------------------ after the charge

    async def _serve(self) -> None:
        """Stay open for refunds, returns and webhooks; continue-as-new when history grows."""
        deadline = workflow.now() + policies.refund_window(self._request.options)
        while not is_final(self.view.status):
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                break
            try:
                await workflow.wait_condition(
                    lambda: (
                        self._ach_return is not None
                        or self._continue_as_new_due()
                        or is_final(self.view.status)
                    ),
                    timeout=remaining,
                )
            except TimeoutError:
                break
            if self._ach_return is not None and self.view.status != PaymentStatus.RETURNED:
                event = self._ach_return
                await self._apply_ach_return(event.data.get("return_code", "R01"), event.event_id)
            elif self._continue_as_new_due():
                await workflow.wait_condition(workflow.all_handlers_finished)
                self._step("continue_as_new", f"after {self._events_this_run} events")
                view = replace(
                    self.view,
                    events_seen=tuple(self._seen)[-_SEEN_EVENTS_KEPT:],
                    steps=self.view.steps[-50:],
                )
                workflow.continue_as_new(replace(self._request, carried=view))

    def _continue_as_new_due(self) -> bool:
        limit = policies.max_events_per_run(self._request.options)
        return self._events_this_run >= limit or workflow.info().is_continue_as_new_suggested()

    # ------------------------------------------------------------------ query

    @workflow.query
    def status(self) -> PaymentView:
        return replace(self.view, events_seen=tuple(self._seen))

    # ------------------------------------------------------------------ updates

    @workflow.update
    async def capture(self, request: CaptureRequest) -> PaymentView:
        self._capture_request = request
        await workflow.wait_condition(
            lambda: (
                self.view.status not in (PaymentStatus.AWAITING_CAPTURE, PaymentStatus.CAPTURING)
            )
        )
        if self.view.status not in (PaymentStatus.CAPTURED, PaymentStatus.SETTLED):
            raise ApplicationError(
                f"capture failed: {self._capture_error or self.view.last_error}",
                type="capture_failed",
                non_retryable=True,
            )
        return self.status()

    @capture.validator
    def _validate_capture(self, request: CaptureRequest) -> None:
        if self._capture_request is not None:
            raise ApplicationError("a capture is already in progress", type="conflict")
        try:
            check_capture(self.view, request)
        except PaysagaError as exc:
            raise _rejected(exc) from None

    @workflow.update
    async def cancel(self, request: CancelRequest) -> PaymentView:
        self._cancel_request = request
        await workflow.wait_condition(lambda: is_final(self.view.status))
        return self.status()

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        try:
            check_cancel(self.view)
        except PaysagaError as exc:
            raise _rejected(exc) from None

    @workflow.update
    async def refund(self, request: RefundRequest) -> RefundOutcome:
        if request.request_id in self._refunds_in_flight:
            await workflow.wait_condition(lambda: request.request_id in self._refund_outcomes)
        if request.request_id in self._refund_outcomes:
            return self._refund_outcomes[request.request_id]
        # Checked again here, synchronously, and reserved before the first await: of two
        # concurrent refunds that together exceed the captured amount, only one passes.
        try:
            check_refund(self.view, request, self._reserved_minor)
        except PaysagaError as exc:
            raise _rejected(exc) from None
        self._reserved_minor += request.amount_minor
        self._refunds_in_flight.add(request.request_id)
        try:
            async with self._lock:
                return await self._apply_refund(request)
        finally:
            self._reserved_minor -= request.amount_minor
            self._refunds_in_flight.discard(request.request_id)

    @refund.validator
    def _validate_refund(self, request: RefundRequest) -> None:
        if request.request_id in self._refund_outcomes | dict.fromkeys(self._refunds_in_flight):
            return  # a retry of an accepted refund: answered with its outcome
        try:
            check_refund(self.view, request, self._reserved_minor)
        except PaysagaError as exc:
            raise _rejected(exc) from None

    async def _apply_refund(self, request: RefundRequest) -> RefundOutcome:
        view = self.view
        if view.status == PaymentStatus.RETURNED:
            raise ApplicationError("the payment was returned", type="invalid_request")
        assert view.gateway is not None and view.reference is not None
        step = f"refund-{request.request_id}"
        refunded = await self._refund_at_gateway(
            GatewayRefundInput(
                gateway=view.gateway,
                idempotency_key=gateway_idempotency_key(self._payment_id, step),
                reference=view.reference,
                amount_minor=request.amount_minor,
            )
        )
        entry = await self._reverse_capture(
            step, request.amount_minor, "refund", refund_reference=refunded.reference
        )
        view = self.view
        total = view.refunded_minor + request.amount_minor
        record = RefundRecord(
            request.request_id,
            request.amount_minor,
            refunded.reference,
            refunded.status,
            workflow.now(),
        )
        status = (
            PaymentStatus.REFUNDED
            if total >= view.captured_minor
            else PaymentStatus.PARTIALLY_REFUNDED
        )
        self._update(refunded_minor=total, refunds=(*view.refunds, record))
        self._step("refunded", f"{request.amount_minor} {refunded.reference} {entry.entry_id}")
        self._set_status(status)
        outcome = RefundOutcome(
            request.request_id,
            refunded.reference,
            request.amount_minor,
            view.currency,
            refunded.status,
            total,
        )
        self._refund_outcomes[request.request_id] = outcome
        return outcome

    async def _refund_at_gateway(self, refund: GatewayRefundInput) -> GatewayRefundResult:
        """The gateway's refund; an update failing here is final for its request id.

        Temporal answers a retried update id with the first outcome, so a refund must not
        fail on something a retry would fix: an unknown outcome (the refund may have
        happened at the gateway) is resent with the same idempotency key, which returns
        the first refund if there was one, instead of leaving gateway and ledger apart.
        """
        for round_ in range(policies.REFUND_ROUNDS):
            try:
                return await calls.refund(self._request.routing, refund)
            except ActivityError as exc:
                failure = classify(exc)
                last_round = round_ == policies.REFUND_ROUNDS - 1
                if (
                    failure.outcome_unknown
                    and not last_round
                    and workflow.patched("refund-resend-on-unknown-outcome")
                ):
                    self._step("refund_outcome_unknown", failure.reason())
                    continue
                self._step("refund_failed", failure.reason())
                raise ApplicationError(
                    f"refund failed: {failure.reason()}", type=failure.type, non_retryable=True
                ) from exc
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ signals

    @workflow.signal
    def gateway_event(self, event: GatewayEvent) -> None:
        if event.event_id in self._seen:
            return  # duplicate delivery
        self._seen[event.event_id] = None
        self._events_this_run += 1
        self._step(f"event:{event.kind}", event.event_id)
        status = self.view.status
        kind = event.kind
        ach = self._request.method_type == "ach"
        if ach and status == PaymentStatus.PROCESSING and kind == EventKind.PAYMENT_CAPTURED:
            kind = EventKind.ACH_SETTLED  # Stripe: payment_intent.succeeded settles a debit
        elif ach and status == PaymentStatus.PROCESSING and kind == EventKind.PAYMENT_FAILED:
            kind = EventKind.ACH_RETURNED  # a debit failing after submission is a return
        if kind in (EventKind.PAYMENT_AUTHORIZED, EventKind.PAYMENT_CAPTURED):
            if status in (PaymentStatus.AUTHORIZING, PaymentStatus.REQUIRES_ACTION):
                self._webhook_payment = event
        elif kind == EventKind.PAYMENT_FAILED:
            if status == PaymentStatus.REQUIRES_ACTION:
                self._webhook_payment = event
        elif kind == EventKind.PAYMENT_CANCELED:
            if status == PaymentStatus.AWAITING_CAPTURE:
                self._external_cancel = True
        elif kind == EventKind.ACH_SETTLED:
            if ach:
                self._ach_settled = True
            elif status == PaymentStatus.CAPTURED:
                self._set_status(PaymentStatus.SETTLED)  # a card capture's settlement report
        elif kind == EventKind.ACH_RETURNED:
            if ach and self._ach_return is None and not is_final(status):
                self._ach_return = event
        elif kind == EventKind.SETTLEMENT_MATCHED:
            # Reconciliation confirmed the money; a final state never moves backwards.
            if may_advance(status, PaymentStatus.SETTLED) and status == PaymentStatus.CAPTURED:
                self._set_status(PaymentStatus.SETTLED)
        elif kind == EventKind.SETTLEMENT_EXCEPTION:
            self._update(last_error=f"reconciliation: {event.data.get('kind', 'exception')}")
        elif kind in (EventKind.REFUND_SUCCEEDED, EventKind.REFUND_FAILED):
            self._mark_refund(event)

    def _mark_refund(self, event: GatewayEvent) -> None:
        reference = event.data.get("refund_reference") or event.reference
        status = "succeeded" if event.kind == EventKind.REFUND_SUCCEEDED else "failed"
        refunds = tuple(
            replace(r, status=status) if r.reference == reference and r.status == "pending" else r
            for r in self.view.refunds
        )
        if refunds != self.view.refunds:
            self._update(refunds=refunds)
            if status == "failed":
                self._update(last_error=f"refund {reference} failed at the gateway")


class _Declined(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason())
        self.failure = failure


class _FailOver(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason())
        self.failure = failure


def _consume(task: asyncio.Task[GatewayResult]) -> None:
    """A response that lost the race to its webhook: read it so nothing is left unraised."""
    if not task.cancelled():
        task.exception()
