"""PaymentWorkflow on the real dev server: continue-as-new and update rejections.

The time-skipping test server does not answer queries on a continued-as-new run and
reports validator rejections as "update not found", so these run on the dev server.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from paysaga.client.starts import start_payment
from paysaga.domain.events import EventKind
from paysaga.domain.payments import PaymentOptions
from paysaga.domain.refunds import RefundRequest
from paysaga.domain.status import PaymentStatus
from tests.workflows.fakes import FakeWorld
from tests.workflows.helpers import payment_request, worker
from tests.workflows.test_payment import event, wait_status
from workflows.payment import PaymentWorkflow


async def test_refund_validator_rejects_with_reason(dev_client: Client, task_queue: str) -> None:
    world = FakeWorld()
    options = PaymentOptions(refund_window_s=60)
    async with worker(dev_client, task_queue, world.activities()):
        handle, _ = await start_payment(
            dev_client, payment_request(task_queue, options=options), task_queue=task_queue
        )
        await wait_status(handle, PaymentStatus.CAPTURED)
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r", 5000, "USD"))
        assert "exceeds the refundable 1000" in str(rejected.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as wrong_currency:
            await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r", 10, "EUR"))
        assert "currency" in str(wrong_currency.value.cause)
        await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r", 1000, "USD"))
        assert (await handle.result()).status == PaymentStatus.REFUNDED


async def test_continue_as_new_carries_state(dev_client: Client, task_queue: str) -> None:
    world = FakeWorld()
    options = PaymentOptions(max_events_per_run=3, refund_window_s=3600)
    async with worker(dev_client, task_queue, world.activities()):
        handle, _ = await start_payment(
            dev_client, payment_request(task_queue, options=options), task_queue=task_queue
        )
        await wait_status(handle, PaymentStatus.CAPTURED)
        await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r1", 100, "USD"))
        # The started handle is pinned to the first run; follow the chain by id.
        handle = dev_client.get_workflow_handle_for(PaymentWorkflow.run, handle.id)
        for i in range(3):
            await handle.signal(
                PaymentWorkflow.gateway_event,
                event(EventKind.REFUND_SUCCEEDED, handle.id, f"evt-{i}"),
            )
        for _ in range(100):
            view = await handle.query(PaymentWorkflow.status)
            if view.runs == 2:
                break
            await asyncio.sleep(0.05)
        assert view.runs == 2 and view.refunded_minor == 100
        await handle.signal(
            PaymentWorkflow.gateway_event, event(EventKind.REFUND_SUCCEEDED, handle.id, "evt-0")
        )
        again = await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r1", 100, "USD"))
        assert again.refunded_total_minor == 100  # remembered across runs
        view = await handle.query(PaymentWorkflow.status)
        assert view.events_seen.count("evt-0") == 1
        await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r2", 900, "USD"))
        result = await handle.result()
    assert result.status == PaymentStatus.REFUNDED and len(world.calls["refund"]) == 2
