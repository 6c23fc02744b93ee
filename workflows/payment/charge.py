"""The charge as a saga: route, then per gateway a ledger hold and the authorization
(dunning on soft declines), failing over to the next gateway only when no authorization
can have happened; then capture or settle. On failure the compensations run in reverse
and the payment lands in a final status.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.gateways import GatewayResult, RouteRequest
    from paysaga.domain.ledger import LedgerHoldInput
    from paysaga.domain.names import gateway_idempotency_key
    from paysaga.domain.status import PaymentStatus
    from workflows import calls, policies
    from workflows.failures import PaymentFailure, classify
    from workflows.saga import Saga

from workflows.payment import ach, balance, cancellation, compensation
from workflows.payment.authorize import Declined, FailOver, authorize_once
from workflows.payment.capture import after_authorization
from workflows.payment.state import PaymentState


async def charge(state: PaymentState) -> None:
    request = state.request
    saga = Saga()
    try:
        if balance.wanted(state):
            await balance.precheck(state)
        decision = await calls.route(
            request.routing,
            RouteRequest(
                payment_id=state.payment_id,
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
                result = await _attempt_gateway(state, gateway, saga)
                break
            except FailOver as exc:
                if index == len(decision.gateways) - 1:
                    raise PaymentFailure(exc.failure.reason()) from exc
                state.step("failover", f"{gateway}: {exc.failure.reason()}")
                await saga.compensate()
                saga = Saga()
                if state.view.capture_entry_id is not None:
                    # The first gateway's charge was captured and refunded (its refund
                    # stays listed); the next gateway's charge starts afresh.
                    state.update(captured_minor=0, refunded_minor=0, capture_entry_id=None)
        assert result is not None
        await after_authorization(state, result)
        saga.clear()
    except (PaymentFailure, asyncio.CancelledError) as error:
        failure = cancellation.as_failure(state, error)
        if failure is None:  # a submitted ACH debit cannot be canceled: follow it
            await ach.await_settlement(state)
            return
        state.update(last_error=failure.reason, next_retry_at=None)
        state.step("compensating", failure.reason)
        await saga.compensate()
        status = PaymentStatus(failure.status)
        state.set_status(status)
    except ActivityError as exc:
        # A step that is not a gateway decision failed for good (ledger refused, ...).
        reason = classify(exc).reason()
        state.update(last_error=reason, next_retry_at=None)
        state.step("compensating", reason)
        await saga.compensate()
        state.set_status(PaymentStatus.FAILED)


async def _attempt_gateway(state: PaymentState, gateway: str, saga: Saga) -> GatewayResult:
    request = state.request
    state.update(gateway=gateway)
    saga.add("void_hold", lambda: compensation.void_hold(state))
    hold = await calls.ledger_hold(
        request.routing,
        LedgerHoldInput(
            payment_id=state.payment_id,
            idempotency_key=gateway_idempotency_key(state.payment_id, f"hold-{gateway}"),
            merchant_id=request.merchant_id,
            customer_id=request.customer_id,
            gateway=gateway,
            amount_minor=request.amount_minor,
            currency=request.currency,
        ),
    )
    state.update(hold_entry_id=hold.entry_id)
    state.step("ledger_hold", hold.entry_id)
    saga.add("cancel_authorization", lambda: compensation.cancel_authorization(state))
    return await _authorize_with_dunning(state, gateway)


async def _authorize_with_dunning(state: PaymentState, gateway: str) -> GatewayResult:
    schedule = policies.dunning_schedule(state.request.options)
    first_attempt_at = workflow.now()
    for retry_index in range(len(schedule) + 1):
        cancellation.raise_if_canceled(state)  # no new charge once a cancel was accepted
        state.set_status(PaymentStatus.AUTHORIZING, next_retry_at=None)
        state.update(attempts=state.view.attempts + 1)
        step = f"authorize-{state.view.attempts}"
        try:
            result = await authorize_once(state, gateway, step)
        except Declined as declined:
            failure = declined.failure
            state.update(last_error=failure.reason(), decline_code=failure.decline_code)
            state.step("declined", failure.reason())
            if not failure.soft:
                raise PaymentFailure(f"hard decline: {failure.reason()}") from declined
            if retry_index == len(schedule):
                raise PaymentFailure(
                    f"soft decline, dunning exhausted after {state.view.attempts} attempts: "
                    f"{failure.reason()}"
                ) from declined
            await _wait_for_retry(state, first_attempt_at + schedule[retry_index])
            continue
        state.update(last_error=None, decline_code=None)
        if state.cancel_request is not None and result.state != "processing":
            # Canceled while the authorization was in flight: void what it made (a
            # submitted ACH debit cannot be canceled and goes on to settle).
            state.update(reference=result.reference)
            cancellation.raise_if_canceled(state)
        return result
    raise AssertionError("unreachable")


async def _wait_for_retry(state: PaymentState, at: datetime) -> None:
    state.set_status(PaymentStatus.RETRY_SCHEDULED, next_retry_at=at)
    delay = max(at - workflow.now(), timedelta(0))
    try:
        await workflow.wait_condition(lambda: state.cancel_request is not None, timeout=delay)
    except TimeoutError:
        return
    raise PaymentFailure(state.cancel_reason(), status=PaymentStatus.CANCELED)
