"""PaymentWorkflow: one per payment, id `payment-{idempotency_key}`.

Lifecycle: validate -> route -> ledger hold -> authorize (dunning on soft declines,
lookup on unknown outcomes, failover between gateways) -> capture now or on a
`capture` Update (authorization expiry voids) -> post the ledger entry -> stay open
for refunds, webhooks and ACH returns until the refund window ends.

This class holds the handlers; the steps live in this package's modules, which share
one `PaymentState`: charge (route, hold, dunning, failover), authorize (one attempt,
lookups), capture, ach, compensation, refunds, events (the signal), serve (after the
charge, continue-as-new), cancellation (the `cancel` update's wait; Temporal cancellation
of the run, which compensates like the update).

Starting twice with the same id: every caller starts through
`paysaga.client.starts.start_payment`, which has Temporal refuse a second start (running
or closed) and answers it with the existing payment if the request is the same (its
digest is in the memo), IdempotencyConflict if not.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.errors import PaysagaError
    from paysaga.domain.events import GatewayEvent
    from paysaga.domain.names import (
        AMOUNT_MINOR,
        CURRENCY,
        CUSTOMER_ID,
        GATEWAY,
        LAST_ERROR,
        MERCHANT_ID,
        PAYMENT_STATUS,
    )
    from paysaga.domain.pan import CardNumberNotAccepted
    from paysaga.domain.payments import (
        CancelRequest,
        CaptureRequest,
        PaymentRequest,
        PaymentView,
        check_cancel,
        check_capture,
    )
    from paysaga.domain.refunds import RefundOutcome, RefundRequest
    from paysaga.domain.status import PaymentStatus, is_final

from workflows.payment import cancellation, events, refunds
from workflows.payment.charge import charge
from workflows.payment.serve import serve
from workflows.payment.state import PaymentState, rejected

# Runs from this patch on skip the upserts of values the client set at start (two history
# events and two visibility writes per payment); older histories replay without it.
_SEED_SEARCH_PATCH = "seed-search-attributes-from-start"
# Runs from this patch on fail a request holding a card number; histories recorded
# before it replay as they ran. Asked only when a request holds one (no marker otherwise).
REFUSE_CARD_NUMBERS_PATCH = "refuse-card-numbers"


def validate_request(request: PaymentRequest) -> None:
    """PaymentRequest.validate, its card-number check behind REFUSE_CARD_NUMBERS_PATCH."""
    try:
        request.validate()
    except CardNumberNotAccepted:
        if workflow.patched(REFUSE_CARD_NUMBERS_PATCH):
            raise
        request.validate(card_numbers=False)


@workflow.defn(name="PaymentWorkflow")
class PaymentWorkflow:
    @workflow.init
    def __init__(self, request: PaymentRequest) -> None:
        self._state = PaymentState(request)

    @workflow.run
    async def run(self, request: PaymentRequest) -> PaymentView:
        state = self._state
        if workflow.patched(_SEED_SEARCH_PATCH):
            state.search.seed(
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
        state.search.upsert(
            {
                AMOUNT_MINOR: request.amount_minor,
                CURRENCY: request.currency,
                CUSTOMER_ID: request.customer_id,
                MERCHANT_ID: request.merchant_id,
            }
        )
        state.publish()
        if request.carried is None:
            try:
                validate_request(request)
            except PaysagaError as exc:
                state.set_status(PaymentStatus.FAILED, last_error=f"{exc.code}: {exc.message}")
                return state.view
        if cancellation.handles_workflow_cancel():
            return await self._run_cancellable(request)
        if request.carried is None:
            await charge(state)
        if not is_final(state.view.status):
            await serve(state)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state.view

    async def _run_cancellable(self, request: PaymentRequest) -> PaymentView:
        """The charge and the serving, with Temporal cancellation running the saga's
        compensations (see `cancellation`); a canceled run then ends Canceled."""
        state = self._state
        await cancellation.run_shielded(state, self._charge_and_serve(request))
        if state.workflow_canceled:
            raise CancelledError(f"payment {state.view.status}: {state.cancel_reason()}")
        return state.view

    async def _charge_and_serve(self, request: PaymentRequest) -> None:
        state = self._state
        if request.carried is None:
            await charge(state)
        if not is_final(state.view.status) and not state.workflow_canceled:
            await serve(state)
        await cancellation.wait_through_cancel(state, workflow.all_handlers_finished)

    @workflow.query
    def status(self) -> PaymentView:
        return self._state.snapshot()

    @workflow.update
    async def capture(self, request: CaptureRequest) -> PaymentView:
        state = self._state
        state.capture_request = request
        await workflow.wait_condition(
            lambda: (
                state.view.status not in (PaymentStatus.AWAITING_CAPTURE, PaymentStatus.CAPTURING)
            )
        )
        if state.view.status not in (PaymentStatus.CAPTURED, PaymentStatus.SETTLED):
            raise ApplicationError(
                f"capture failed: {state.capture_error or state.view.last_error}",
                type="capture_failed",
                non_retryable=True,
            )
        return state.snapshot()

    @capture.validator
    def _validate_capture(self, request: CaptureRequest) -> None:
        if self._state.capture_request is not None:
            raise ApplicationError("a capture is already in progress", type="conflict")
        try:
            check_capture(self._state.view, request)
        except PaysagaError as exc:
            raise rejected(exc) from None

    @workflow.update
    async def cancel(self, request: CancelRequest) -> PaymentView:
        state = self._state
        state.cancel_request = request
        await cancellation.await_cancel_outcome(state)
        return state.snapshot()

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        try:
            check_cancel(self._state.view, request)
        except PaysagaError as exc:
            raise rejected(exc) from None

    @workflow.update
    async def refund(self, request: RefundRequest) -> RefundOutcome:
        return await refunds.refund(self._state, request)

    @refund.validator
    def _validate_refund(self, request: RefundRequest) -> None:
        refunds.validate(self._state, request)

    @workflow.signal
    def gateway_event(self, event: GatewayEvent) -> None:
        events.apply(self._state, event)
