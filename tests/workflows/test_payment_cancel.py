"""Cancelling a payment on the time-skipping server: Temporal cancellation of the run
(`paysaga stuck --cancel`) compensates, and an accepted `cancel` update always wins."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker
from temporalio.worker._workflow_instance import _WorkflowLogicFlag
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from paysaga.client.starts import start_payment
from paysaga.client.stuck import ReasonKind, StuckPayment, StuckReason, cancel_payment
from paysaga.domain.events import EventKind
from paysaga.domain.payments import CancelRequest, PaymentOptions, PaymentView
from paysaga.domain.status import PaymentStatus
from tests.workflows.fakes import FakeWorld
from tests.workflows.helpers import payment_request
from tests.workflows.test_payment import SHORT, event, wait_status
from workers.registry import WORKFLOWS, workflow_runner
from workflows.payment import PaymentWorkflow

DUNNING = PaymentOptions(dunning_schedule_s=(3600,), refund_window_s=3600)

Handle = WorkflowHandle[PaymentWorkflow, PaymentView]


async def ended_canceled(handle: Handle) -> PaymentView:
    """Wait for the run to end as Canceled; the payment's view as the query answers it."""
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert isinstance(info.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    await replays(handle)
    return await handle.query(PaymentWorkflow.status)


async def replays(handle: Handle) -> None:
    """The run's history replays on the workers' code (the cancel path is deterministic)."""
    history = await handle.fetch_history()
    for runner in (workflow_runner(), SandboxedWorkflowRunner()):
        await Replayer(workflows=WORKFLOWS, workflow_runner=runner).replay_workflow(history)


def stuck_entry(handle: Handle, status: PaymentStatus) -> StuckPayment:
    reason = StuckReason(ReasonKind.WAITING, "waiting for the `capture` or `cancel` update")
    return StuckPayment(
        handle.id, "", status, "stripe", 1000, "USD", "c_1", "m_1",
        datetime.now(UTC), timedelta(hours=1), reason, None,
    )  # fmt: skip


def payment_worker(
    env: WorkflowEnvironment, task_queue: str, world: FakeWorld, *, single_batch: bool = True
) -> Worker:
    """With `single_batch`, a worker that applies all of an activation's jobs before
    running workflow code (`PROCESS_WORKFLOW_ACTIVATION_JOBS_AS_SINGLE_BATCH`, which
    sdk-python records per history and will turn on by default: set here as its own
    tests do). An update and a timer firing then wake the run in the same loop turn, the
    timer first, and a Temporal cancel interrupts every wait pending in any task. No
    sticky queue, so a next worker gets the workflow task at once."""
    running = Worker(
        env.client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=world.activities(),
        max_cached_workflows=0,
    )
    running._set_default_workflow_logic_flag(
        _WorkflowLogicFlag.PROCESS_WORKFLOW_ACTIVATION_JOBS_AS_SINGLE_BATCH, enabled=single_batch
    )
    return running


@pytest.fixture(params=["single_batch", "legacy_order"])
def single_batch(request: pytest.FixtureRequest) -> bool:
    """The Temporal-cancel tests run with both ways sdk-python applies activation jobs."""
    return bool(request.param == "single_batch")


async def test_workflow_cancel_while_dunning_voids_the_hold(
    env: WorkflowEnvironment, task_queue: str, single_batch: bool
) -> None:
    world = FakeWorld(authorize_script=["soft", "ok"])
    async with payment_worker(env, task_queue, world, single_batch=single_batch):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=DUNNING), task_queue=task_queue
        )
        await wait_status(handle, PaymentStatus.RETRY_SCHEDULED)
        await handle.cancel(reason="ops: customer asked")
        view = await ended_canceled(handle)
    assert view.status == PaymentStatus.CANCELED
    assert view.last_error == "canceled: ops: customer asked"
    assert [e.state for e in world.entries.values()] == ["voided"]
    assert len(world.calls["authorize"]) == 1  # no further attempt after the cancel


@pytest.mark.parametrize("capture_mode", ["automatic", "manual"])
async def test_workflow_cancel_resolves_the_authorization_in_flight(
    env: WorkflowEnvironment, task_queue: str, capture_mode: str, single_batch: bool
) -> None:
    # The cancel arrives while the gateway is still authorizing: the run waits for the
    # answer, then voids the authorization (or books and refunds a captured charge).
    world = FakeWorld(authorize_script=["slow"])
    request = payment_request(task_queue, options=SHORT, capture_mode=capture_mode)
    async with payment_worker(env, task_queue, world, single_batch=single_batch):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.AUTHORIZING)
        while not world.calls["authorize"]:
            await asyncio.sleep(0.05)
        await handle.cancel()
        await asyncio.sleep(1)  # the workflow has seen the cancel before the gateway answers
        world.release_slow.set()
        view = await ended_canceled(handle)
    charge = world.payments[handle.id]
    assert view.status == PaymentStatus.CANCELED
    if capture_mode == "automatic":
        assert charge.state == "captured"  # cannot be voided: refunded in full and booked
        assert [r.amount_minor for r in world.calls["refund"]] == [1000]
        assert world.net_posted(handle.id) == 0
    else:
        assert charge.state == "canceled" and not world.calls["refund"]
        assert [e.state for e in world.entries.values()] == ["voided"]


async def test_stuck_cancel_compensates_an_authorized_payment(
    env: WorkflowEnvironment, task_queue: str, single_batch: bool
) -> None:
    world = FakeWorld()
    request = payment_request(task_queue, options=SHORT, capture_mode="manual")
    async with payment_worker(env, task_queue, world, single_batch=single_batch):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.AWAITING_CAPTURE)
        done = await cancel_payment(env.client, stuck_entry(handle, PaymentStatus.AWAITING_CAPTURE))
        assert done.startswith("cancellation requested")
        view = await ended_canceled(handle)
    assert view.status == PaymentStatus.CANCELED
    assert view.last_error and "paysaga stuck --cancel" in view.last_error
    assert world.payments[handle.id].state == "canceled"
    assert [e.state for e in world.entries.values()] == ["voided"]


async def test_workflow_cancel_while_the_customer_authenticates(
    env: WorkflowEnvironment, task_queue: str, single_batch: bool
) -> None:
    world = FakeWorld(authorize_script=["requires_action"])
    async with payment_worker(env, task_queue, world, single_batch=single_batch):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        await wait_status(handle, PaymentStatus.REQUIRES_ACTION)
        await handle.cancel(reason="abandoned checkout")
        view = await ended_canceled(handle)
    assert view.status == PaymentStatus.CANCELED
    assert view.last_error == "canceled: abandoned checkout"
    assert world.payments[handle.id].state == "canceled"
    assert [e.state for e in world.entries.values()] == ["voided"]


async def test_workflow_cancel_of_a_captured_payment_keeps_the_money(
    env: WorkflowEnvironment, task_queue: str, single_batch: bool
) -> None:
    world = FakeWorld()
    async with payment_worker(env, task_queue, world, single_batch=single_batch):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        await wait_status(handle, PaymentStatus.CAPTURED)
        await handle.cancel()
        view = await ended_canceled(handle)
    assert view.status == PaymentStatus.CAPTURED and view.captured_minor == 1000
    assert world.net_posted(handle.id) == 1000 and not world.calls["refund"]


async def test_workflow_cancel_follows_a_submitted_ach_debit_until_it_settles(
    env: WorkflowEnvironment, task_queue: str, single_batch: bool
) -> None:
    # A submitted debit cannot be canceled: the run keeps waiting for its outcome (a
    # return would reverse the ledger), then ends Canceled with the money booked.
    world = FakeWorld()
    request = payment_request(task_queue, method_type="ach", payment_method="ba_1", options=SHORT)
    async with payment_worker(env, task_queue, world, single_batch=single_batch):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.PROCESSING)
        await handle.cancel()
        await asyncio.sleep(0.5)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        await handle.signal(PaymentWorkflow.gateway_event, event(EventKind.ACH_SETTLED, handle.id))
        view = await ended_canceled(handle)
    assert view.status == PaymentStatus.SETTLED
    assert world.net_posted(handle.id) == 1000
    assert not world.calls["cancel"] and not world.calls["refund"] and not world.calls["void"]


async def test_cancel_update_in_the_activation_of_the_dunning_timer_wins(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld(authorize_script=["soft", "ok"])
    options = PaymentOptions(dunning_schedule_s=(5,), refund_window_s=3600)
    async with payment_worker(env, task_queue, world):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=options), task_queue=task_queue
        )
        await wait_status(handle, PaymentStatus.RETRY_SCHEDULED)
    # No worker: the dunning timer fires (in real time: the test server skips time only
    # while a result is awaited), then the cancel update waits in the same workflow task,
    # so the next worker sees both in one activation.
    await asyncio.sleep(6)
    update = asyncio.create_task(
        handle.execute_update(PaymentWorkflow.cancel, CancelRequest("c1", "changed mind"))
    )
    await asyncio.sleep(1)
    async with payment_worker(env, task_queue, world):
        view = await asyncio.wait_for(update, timeout=30)
        final = await handle.result()
    await replays(handle)
    assert view.status == PaymentStatus.CANCELED and view.last_error == "canceled: changed mind"
    assert final.status == PaymentStatus.CANCELED
    assert len(world.calls["authorize"]) == 1  # the timer did not start a second charge
    assert [e.state for e in world.entries.values()] == ["voided"]
