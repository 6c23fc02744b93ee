"""Capture and booking money that moved (issue 13, defects 3, 5, 8 and 13), on the
time-skipping server with FakeWorld: a capture is resent while the authorization lives,
and a ledger posting after a gateway effect is retried however long the ledger is away.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateStage
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    TimeoutError,
    TimeoutType,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.gateway import GatewayActivities
from paysaga.client.starts import start_payment
from paysaga.domain.gateways import GatewayCaptureInput
from paysaga.domain.names import LAST_ERROR
from paysaga.domain.payments import CaptureRequest, PaymentOptions, PaymentView
from paysaga.domain.refunds import RefundRequest
from paysaga.domain.status import PaymentStatus
from paysaga.gateways.errors import InvalidRequest
from paysaga.gateways.types import GatewayPayment, GatewayPaymentState
from tests.workflows.fakes import FakeWorld
from tests.workflows.helpers import UPDATE_REJECTED, payment_request, worker
from tests.workflows.test_payment import _LOOKUPS_TO_VERDICT as LOOKUPS_TO_VERDICT
from tests.workflows.test_payment import wait_status
from workers.registry import WORKFLOWS
from workflows import calls, policies
from workflows.payment import PaymentWorkflow

ACCEPTED = WorkflowUpdateStage.ACCEPTED
SHORT = PaymentOptions(refund_window_s=3600)
_LEDGER_ROUNDS_BEFORE = timedelta(hours=2)  # the old policy gave up after ~20 minutes


async def _last_error_attribute(handle: WorkflowHandle[PaymentWorkflow, PaymentView]) -> str:
    attrs = (await handle.describe()).typed_search_attributes
    return attrs.get(LAST_ERROR) or ""


async def _replays(handle: WorkflowHandle[PaymentWorkflow, PaymentView]) -> None:
    """The run's own history replays with the code that made it (rounds, patches)."""
    await Replayer(workflows=WORKFLOWS).replay_workflow(await handle.fetch_history())


async def _wait_step(
    handle: WorkflowHandle[PaymentWorkflow, PaymentView], name: str
) -> PaymentView:
    for _ in range(400):
        view = await handle.query(PaymentWorkflow.status)
        if any(s.name == name for s in view.steps):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"no step {name}: {[s.name for s in view.steps]}")


async def test_capture_with_unknown_outcome_is_resent_not_refunded(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Defect 8: the capture happened but its answer was lost; resending is safe."""
    world = FakeWorld(capture_script=["unknown_done", "ok"])
    request = payment_request(task_queue, capture_mode="manual", options=SHORT)
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.AWAITING_CAPTURE)
        view = await handle.execute_update(PaymentWorkflow.capture, CaptureRequest("c1"))
        result = await handle.result()
    assert view.status == PaymentStatus.CAPTURED and result.status == PaymentStatus.CAPTURED
    captures = world.calls["capture"]
    assert len(captures) == 2 and len({c.idempotency_key for c in captures}) == 1
    assert world.calls["refund"] == [] and world.calls["cancel"] == []
    assert world.net_posted(handle.id) == 1000 and result.last_error is None


async def test_capture_outage_is_retried_while_the_authorization_lives(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Defect 13: a capture outage longer than one round of retries is not terminal."""
    world = FakeWorld(capture_script=["unavailable"] * 14 + ["ok"])  # > 2 rounds of 6
    request = payment_request(task_queue, capture_mode="manual", options=SHORT)
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.AWAITING_CAPTURE)
        update = await handle.start_update(
            PaymentWorkflow.capture, CaptureRequest("c1"), wait_for_stage=ACCEPTED
        )
        await env.sleep(timedelta(seconds=45))  # a round of retries (~31 s) failed
        retrying = await _wait_step(handle, "capture_retrying")
        alert = await _last_error_attribute(handle)
        result = await handle.result()
        view = await update.result()
        await _replays(handle)
    # Meanwhile the payment said so: still capturing, resent until the expiry.
    assert retrying.status == PaymentStatus.CAPTURING
    assert retrying.last_error and "until the authorization expires" in retrying.last_error
    assert retrying.next_retry_at is not None and retrying.authorization_expires_at is not None
    assert "capture pending" in alert
    assert view.status == PaymentStatus.CAPTURED and result.status == PaymentStatus.CAPTURED
    assert result.last_error is None and result.next_retry_at is None
    assert world.calls["cancel"] == [] and world.calls["refund"] == []
    assert world.net_posted(handle.id) == 1000


async def test_capture_outage_ends_when_the_authorization_expires(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld(capture_script=["unavailable"])
    options = PaymentOptions(refund_window_s=3600, authorization_expiry_s=600)
    request = payment_request(task_queue, capture_mode="manual", options=options)
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.AWAITING_CAPTURE)
        await handle.start_update(
            PaymentWorkflow.capture, CaptureRequest("c1"), wait_for_stage=ACCEPTED
        )
        result = await handle.result()
    assert result.status == PaymentStatus.FAILED
    assert all(e.state == "voided" for e in world.entries.values())
    assert len(world.calls["cancel"]) == 1


async def test_auto_capture_is_booked_after_a_long_ledger_outage(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Defect 3: the gateway captured; the ledger is away for hours; it is booked."""
    world = FakeWorld(ledger_down=True)
    request = payment_request(task_queue, options=SHORT)
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await env.sleep(_LEDGER_ROUNDS_BEFORE)
        during = await handle.query(PaymentWorkflow.status)
        alert = await _last_error_attribute(handle)
        world.ledger_down = False
        result = await handle.result()
        await _replays(handle)
    assert during.status == PaymentStatus.AUTHORIZING  # authorized and captured: booking
    assert during.last_error and "ledger booking of capture pending" in during.last_error
    assert "ledger booking" in alert
    assert result.status == PaymentStatus.CAPTURED and result.last_error is None
    assert world.net_posted(handle.id) == 1000
    assert world.calls["refund"] == [] and world.calls["cancel"] == []


def test_retries_exhausted_reads_remote_and_local_failures() -> None:
    """A local activity's failure reaches the workflow bare (calls wraps it, cause
    kept) and without a retry state: the cause alone says whether to go on. (The local
    ledger's rounds were run against FakeWorld once; their in-worker backoff cannot be
    time-skipped, ~2 minutes, so not kept as a test.)"""
    policy = policies.BOOKING_RETRY

    def failed(cause: BaseException) -> ActivityError:
        try:
            raise calls._local_activity_error("ledger.capture") from cause
        except ActivityError as exc:
            return exc

    down = ApplicationError("shard down", type="ShardUnavailable")
    refused = ApplicationError("bad", type="IdempotencyConflict")
    flagged = ApplicationError("bad", type="Whatever", non_retryable=True)
    assert calls.retries_exhausted(failed(down), policy)
    timeout = TimeoutError("t", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[])
    assert calls.retries_exhausted(failed(timeout), policy)
    assert not calls.retries_exhausted(failed(refused), policy)
    assert not calls.retries_exhausted(failed(flagged), policy)
    assert not calls.retries_exhausted(failed(CancelledError("gone")), policy)


async def test_refund_is_booked_after_a_long_ledger_outage(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Defect 3: a refund the gateway made stays reserved until the ledger books it, so
    a second refund cannot pass check_refund and refund the customer twice."""
    world = FakeWorld()
    request = payment_request(task_queue, options=SHORT)
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.CAPTURED)
        world.ledger_down = True
        first = await handle.start_update(
            PaymentWorkflow.refund, RefundRequest("r1", 1000, "USD"), wait_for_stage=ACCEPTED
        )
        await env.sleep(_LEDGER_ROUNDS_BEFORE)
        second_refused = False
        try:
            await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r2", 1000, "USD"))
        except UPDATE_REJECTED:
            second_refused = True
        during = await handle.query(PaymentWorkflow.status)
        world.ledger_down = False
        result = await handle.result()
        outcome = await first.result()
        await _replays(handle)
    assert second_refused
    assert during.last_error and "ledger booking of refund-r1 pending" in during.last_error
    assert len(world.calls["refund"]) == 1 and outcome.amount_minor == 1000
    assert result.status == PaymentStatus.REFUNDED and result.refunded_minor == 1000
    assert world.net_posted(handle.id) == 0


async def test_capture_after_failover_is_booked_under_its_own_key(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Defect 5: braintree charged though it answered unavailable, its search did not
    show the charge within the lag bound, the payment failed over and braintree's capture
    was booked and refunded; stripe's capture must not meet braintree's ledger key."""
    world = FakeWorld(  # braintree's resends are refused (429s) until it fails over
        authorize_script=["unavailable_done", "refused", "refused", "ok"],
        lookup_misses=LOOKUPS_TO_VERDICT,
        gateways=("braintree", "stripe"),
    )
    request = payment_request(task_queue, options=SHORT)
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        result = await handle.result()
    assert [a.gateway for a in world.calls["authorize"]] == ["braintree"] * 3 + ["stripe"]
    assert [r.gateway for r in world.calls["refund"]] == ["braintree"]  # the compensation
    assert result.status == PaymentStatus.CAPTURED and result.gateway == "stripe"
    keys = [c.idempotency_key for c in world.calls["ledger_capture"]]
    assert keys == [f"{handle.id}:capture-braintree", f"{handle.id}:capture-stripe"]
    assert world.net_posted(handle.id) == 1000


class _ForgetfulGateway:
    """A gateway that refuses a resent capture (Stripe once its idempotency key is
    pruned: `payment_intent_unexpected_state`) and shows the payment as `state`."""

    def __init__(self, state: GatewayPaymentState, captured_minor: int) -> None:
        self.payment = GatewayPayment(
            "stripe", "pi_1", "payment-1", state, 1000, captured_minor, 0, "USD"
        )

    def capture(self, key: str, reference: str, amount_minor: int | None) -> GatewayPayment:
        raise InvalidRequest("payment_intent_unexpected_state", gateway="stripe")

    def retrieve(self, reference: str) -> GatewayPayment:
        return self.payment


@pytest.mark.parametrize(
    ("state", "captured", "done"),
    [
        (GatewayPaymentState.CAPTURED, 1000, True),  # the first capture took it: done
        (GatewayPaymentState.CAPTURED, 600, False),  # another amount: not this capture
        (GatewayPaymentState.CANCELED, 0, False),  # nothing to capture: refused
    ],
)
async def test_a_refused_capture_resend_is_read_back(
    state: GatewayPaymentState, captured: int, done: bool
) -> None:
    gateway = _ForgetfulGateway(state, captured)
    acts = GatewayActivities({"stripe": gateway})  # type: ignore[dict-item]
    request = GatewayCaptureInput("stripe", "payment-1:capture", "pi_1", 1000)
    if done:
        assert (await acts.capture(request)).state == "captured"
        return
    with pytest.raises(ApplicationError) as raised:
        await acts.capture(request)
    assert raised.value.type == "InvalidRequest"
