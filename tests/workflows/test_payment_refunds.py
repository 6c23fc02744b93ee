"""Refunds against gateways as they behave (issue 13, defects 1, 6 and 14) on the
time-skipping server with FakeWorld: outcomes resolved without a second credit, refunds
booked as the gateway reports them, Braintree's wait for settlement, the refund window.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from paysaga.client.starts import start_payment
from paysaga.domain.events import EventKind
from paysaga.domain.payments import PaymentOptions, PaymentView
from paysaga.domain.refunds import RefundRequest
from paysaga.domain.status import PaymentStatus
from tests.workflows.fakes import FakeWorld
from tests.workflows.helpers import payment_request, worker
from tests.workflows.test_payment import event, wait_status
from workflows import policies
from workflows.payment import PaymentWorkflow

Handle = WorkflowHandle[PaymentWorkflow, PaymentView]


async def _captured(env: WorkflowEnvironment, task_queue: str, **options: object) -> Handle:
    opts = PaymentOptions(**{"refund_window_s": 3600, **options})  # type: ignore[arg-type]
    handle, _ = await start_payment(
        env.client, payment_request(task_queue, options=opts), task_queue=task_queue
    )
    await wait_status(handle, PaymentStatus.CAPTURED)
    return handle


async def _refund_status(handle: Handle, request_id: str, status: str) -> PaymentView:
    for _ in range(200):
        view = await handle.query(PaymentWorkflow.status)
        if any(r.request_id == request_id and r.status == status for r in view.refunds):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"refund {request_id} never {status}: {view.refunds}")


def _settle(world: FakeWorld, payment_id: str) -> None:
    world.payments[payment_id] = replace(world.payments[payment_id], state="settled")


async def _step_seen(handle: Handle, name: str) -> None:
    for _ in range(200):
        view = await handle.query(PaymentWorkflow.status)
        if name in [s.name for s in view.steps]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no step {name}: {[(s.name, s.detail) for s in view.steps]}")


# ------------------------------------------------------------------ defect 1


async def test_braintree_refund_is_not_sent_twice_when_the_search_lags(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Braintree has no idempotency keys and its search lags: a resend right after an
    unknown outcome misses the first credit and credits the customer twice. The
    workflow resends only after waiting past the lag bound; the search then finds it."""
    world = FakeWorld(
        gateways=("braintree",),
        refund_script=["unknown_done", "ok"],
        refund_search_lag=policies.REFUND_SEARCH_LAG - timedelta(seconds=10),
    )
    async with worker(env.client, task_queue, world.activities()):
        handle = await _captured(env, task_queue)
        _settle(world, handle.id)  # Braintree refunds settled sales
        update = await handle.start_update(
            PaymentWorkflow.refund,
            RefundRequest("r1", 400, "USD"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await _step_seen(handle, "refund_outcome_unknown")
        await env.sleep(policies.REFUND_SEARCH_LAG)  # time skips only when told during updates
        outcome = await update.result()
        await handle.terminate()
    assert len(world.credits) == 1, world.credits  # one credit at the gateway
    assert outcome.refunded_total_minor == 400 == world.refunded_at_gateway()
    assert world.net_posted(handle.id) == 600


async def test_braintree_refund_resend_waits_the_gateways_own_lag_bound(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """The resend waits the operator's bound for the gateway (carried on the failure,
    here 6 s), not the 2-minute default: a refund lagging 4 s in search is found then."""
    world = FakeWorld(
        gateways=("braintree",),
        refund_script=["unknown_done", "ok"],
        refund_search_lag=timedelta(seconds=4),
        search_lag_s=6.0,
    )
    async with worker(env.client, task_queue, world.activities()):
        handle = await _captured(env, task_queue)
        _settle(world, handle.id)
        update = await handle.start_update(
            PaymentWorkflow.refund,
            RefundRequest("r1", 400, "USD"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await _step_seen(handle, "refund_outcome_unknown")
        await env.sleep(timedelta(seconds=7))
        outcome = await asyncio.wait_for(update.result(), timeout=30)
        await handle.terminate()
    assert len(world.credits) == 1 and outcome.refunded_total_minor == 400


async def test_a_braintree_refund_provably_not_sent_is_resent_without_the_lag_wait(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """A failure before the credit was sent (a 5xx on the read ahead of it, a 429) is no
    unknown outcome: the workflow resends at once instead of Temporal retrying into the
    "an earlier attempt may have refunded" wait (chaos seed 1: eight lag waits)."""
    world = FakeWorld(
        gateways=("braintree",),
        refund_script=["not_sent", "not_sent", "ok"],
        refund_search_lag=policies.REFUND_SEARCH_LAG,
    )
    async with worker(env.client, task_queue, world.activities()):
        handle = await _captured(env, task_queue)
        _settle(world, handle.id)
        update = await handle.start_update(
            PaymentWorkflow.refund,
            RefundRequest("r1", 400, "USD"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await env.sleep(timedelta(seconds=4))  # two backoffs (1 s, 2 s), far below the lag
        outcome = await asyncio.wait_for(update.result(), timeout=30)
        view = await handle.query(PaymentWorkflow.status)
        await handle.terminate()
    steps = [s.name for s in view.steps]
    assert steps.count("refund_not_sent") == 2 and "refund_outcome_unknown" not in steps
    assert len(world.credits) == 1 and outcome.refunded_total_minor == 400


async def test_refund_never_fails_while_its_outcome_is_unknown(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Failing the update after a few unknown outcomes left a refund made at the gateway
    unbooked (and the request id answered 'failed' for good). It is resent until known."""
    world = FakeWorld(refund_script=["unknown_done"] * (policies.REFUND_ROUNDS + 1) + ["ok"])
    async with worker(env.client, task_queue, world.activities()):
        handle = await _captured(env, task_queue)
        outcome = await handle.execute_update(
            PaymentWorkflow.refund, RefundRequest("r1", 1000, "USD")
        )
        result = await handle.result()
    assert outcome.status == "succeeded" and result.status == PaymentStatus.REFUNDED
    assert len(world.credits) == 1 and world.net_posted(handle.id) == 0


# ------------------------------------------------------------------ defect 6


async def test_a_refund_the_gateway_reports_failed_is_not_booked(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld(refund_script=["failed"])
    async with worker(env.client, task_queue, world.activities()):
        handle = await _captured(env, task_queue)
        outcome = await handle.execute_update(
            PaymentWorkflow.refund, RefundRequest("r1", 1000, "USD")
        )
        view = await handle.query(PaymentWorkflow.status)
        await handle.terminate()
    assert outcome.status == "failed" and outcome.refunded_total_minor == 0
    assert view.refunded_minor == 0 and view.status == PaymentStatus.CAPTURED
    assert world.net_posted(handle.id) == 1000 == 1000 - world.refunded_at_gateway()
    assert [r.status for r in view.refunds] == ["failed"]


async def test_a_pending_refund_that_fails_later_is_unbooked(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """A pending refund is booked and keeps the payment open (past its refund window);
    Stripe's refund.failed, matched by the refund's id, un-books it."""
    world = FakeWorld(refund_script=["pending"])
    async with worker(env.client, task_queue, world.activities()):
        handle = await _captured(env, task_queue)
        outcome = await handle.execute_update(
            PaymentWorkflow.refund, RefundRequest("r1", 1000, "USD")
        )
        assert outcome.status == "pending"
        view = await handle.query(PaymentWorkflow.status)
        assert view.status == PaymentStatus.PARTIALLY_REFUNDED  # not final while pending
        assert world.net_posted(handle.id) == 0
        await env.sleep(timedelta(hours=2))  # the refund window (1 h) has ended
        description = await handle.describe()
        assert description.status is not None and description.status.name == "RUNNING"
        failed = event(
            EventKind.REFUND_FAILED,
            handle.id,
            reference=view.reference,  # the PaymentIntent, as Stripe sends it
            data={"refund_reference": outcome.reference},
        )
        await handle.signal(PaymentWorkflow.gateway_event, failed)
        view = await handle.result()  # un-booked; the window has ended: the payment closes
    assert [r.status for r in view.refunds] == ["failed"]
    assert view.refunded_minor == 0 and view.status == PaymentStatus.CAPTURED
    assert world.net_posted(handle.id) == 1000  # booked back: the money never left
    assert "refund_unbooked" in [s.name for s in view.steps]


async def test_a_pending_refund_reported_succeeded_completes_the_payment(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld(refund_script=["pending"])
    async with worker(env.client, task_queue, world.activities()):
        handle = await _captured(env, task_queue)
        outcome = await handle.execute_update(
            PaymentWorkflow.refund, RefundRequest("r1", 1000, "USD")
        )
        succeeded = event(
            EventKind.REFUND_SUCCEEDED,
            handle.id,
            reference="pi_elsewhere",
            data={"refund_reference": outcome.reference},
        )
        await handle.signal(PaymentWorkflow.gateway_event, succeeded)
        result = await handle.result()
    assert result.status == PaymentStatus.REFUNDED
    assert [r.status for r in result.refunds] == ["succeeded"]
    assert world.net_posted(handle.id) == 0


# ------------------------------------------------------------------ defect 14


async def test_braintree_partial_refund_waits_for_settlement_without_the_lock(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Braintree refunds only settled sales: a partial refund before settlement waits
    (shown as awaiting_settlement) and is made once the sale settled, without holding
    the refund lock (which failed it after ~50 minutes of retries)."""
    world = FakeWorld(gateways=("braintree",), settled_only=True)
    async with worker(env.client, task_queue, world.activities()):
        handle = await _captured(env, task_queue, refund_window_s=30 * 86400)
        update = await handle.start_update(
            PaymentWorkflow.refund,
            RefundRequest("r1", 300, "USD"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await _refund_status(handle, "r1", "awaiting_settlement")
        await env.sleep(timedelta(hours=3))  # longer than the old ~50 minutes
        assert world.calls["refund"] == []  # nothing sent before settlement
        _settle(world, handle.id)
        outcome = await update.result()
        view = await handle.query(PaymentWorkflow.status)
        await handle.terminate()
    assert outcome.status == "succeeded" and view.refunded_minor == 300
    assert view.status == PaymentStatus.PARTIALLY_REFUNDED
    assert [r.status for r in view.refunds] == ["succeeded"]
    assert world.net_posted(handle.id) == 700 and len(world.calls["refund"]) == 1


async def test_braintree_partial_refund_fails_cleanly_when_the_sale_never_settles(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld(gateways=("braintree",), settled_only=True)
    async with worker(env.client, task_queue, world.activities()):
        handle = await _captured(env, task_queue, refund_window_s=30 * 86400)
        update = await handle.start_update(
            PaymentWorkflow.refund,
            RefundRequest("r1", 300, "USD"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await env.sleep(policies.REFUND_SETTLEMENT_WAIT + timedelta(hours=1))
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await update.result()
        view = await handle.query(PaymentWorkflow.status)
        await handle.terminate()
    assert "did not settle" in str(failed.value.cause)
    assert world.calls["refund"] == [] and view.refunds == () and view.refunded_minor == 0


async def test_refund_window_is_not_restarted_by_continue_as_new(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld()
    async with worker(env.client, task_queue, world.activities()):
        handle = await _captured(env, task_queue, max_events_per_run=2)
        started = (await handle.describe()).start_time
        await env.sleep(timedelta(minutes=50))
        for _ in range(2):  # continue-as-new after two events
            settled = event(EventKind.SETTLEMENT_EXCEPTION, handle.id, data={"kind": "x"})
            await handle.signal(PaymentWorkflow.gateway_event, settled)
        result = await handle.result()
        closed = (await handle.describe()).close_time
    assert result.runs == 2
    assert closed is not None and closed - started < timedelta(minutes=61)
