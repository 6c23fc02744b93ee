"""A refund accepted pending and resolved later (issue 13, defect 6; chaos seed 577881577):
the payment stays open while it is pending, a failure un-books it once (as the
`refund_failure` reconciliation matches) and the payment returns to captured, whether
the outcome comes by webhook or, the webhook lost, by polling the refund by id.
On the time-skipping server with FakeWorld."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from paysaga.api.webhook_events import braintree_event
from paysaga.client.starts import start_payment
from paysaga.domain.events import EventKind, GatewayEvent
from paysaga.domain.payments import PaymentOptions, PaymentView
from paysaga.domain.refunds import RefundOutcome, RefundRequest
from paysaga.domain.status import PaymentStatus
from paysaga.gateways.braintree_webhooks import BraintreeEvent
from tests.workflows.fakes import FakeWorld
from tests.workflows.helpers import payment_request, worker
from tests.workflows.test_payment import event, wait_status
from workflows import policies
from workflows.payment import PaymentWorkflow

Handle = WorkflowHandle[PaymentWorkflow, PaymentView]
GATEWAYS = ["stripe", "braintree"]


async def _refund_pending(
    env: WorkflowEnvironment, task_queue: str
) -> tuple[Handle, RefundOutcome]:
    opts = PaymentOptions(refund_window_s=3600)
    handle, _ = await start_payment(
        env.client, payment_request(task_queue, options=opts), task_queue=task_queue
    )
    await wait_status(handle, PaymentStatus.CAPTURED)
    outcome = await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r1", 1000, "USD"))
    assert outcome.status == "pending"
    view = await handle.query(PaymentWorkflow.status)
    assert view.status == PaymentStatus.PARTIALLY_REFUNDED  # open: not refunded yet
    assert [r.status for r in view.refunds] == ["pending"]
    return handle, outcome


async def _until(handle: Handle, done: object) -> PaymentView:
    for _ in range(200):
        view = await handle.query(PaymentWorkflow.status)
        if done(view):  # type: ignore[operator]
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"{view.status} {view.refunds} {[s.name for s in view.steps]}")


def _refund_failed(view: PaymentView) -> bool:
    return [r.status for r in view.refunds] == ["failed"] and view.refunded_minor == 0


def _assert_unbooked_once(world: FakeWorld, view: PaymentView, outcome: RefundOutcome) -> None:
    assert view.status == PaymentStatus.CAPTURED and view.refunded_minor == 0
    assert world.net_posted(view.payment_id) == 1000  # booked back: the money never left
    assert [s.name for s in view.steps].count("refund_unbooked") == 1
    # Reconciliation recognises the un-booking by kind and refund reference.
    [unbooking] = [c for c in world.calls["ledger_capture"] if c.hold_entry_id is None]
    assert (unbooking.kind, unbooking.refund_reference) == ("refund_failure", outcome.reference)


def _failure_webhook(gateway: str, handle: Handle, outcome: RefundOutcome) -> GatewayEvent:
    """The refund's failure as the API's webhook ingress hands it to the workflow."""
    if gateway == "stripe":  # refund.failed, carrying the PaymentIntent and the refund id
        return event(
            EventKind.REFUND_FAILED,
            handle.id,
            reference="pi_x",
            data={"refund_reference": outcome.reference},
        )
    # Braintree: the credit (order id = our refund key) declined at settlement; the
    # ingress accepts only API-shaped payment ids, so one stands in for the test's.
    api_id = "payment-mer_0123456789abcdef.k1"
    declined = BraintreeEvent(
        kind="transaction_settlement_declined",
        timestamp=datetime.now(UTC),
        transaction_id=outcome.reference,
        transaction_status="settlement_declined",
        order_id=f"{api_id}:refund-r1",
        transaction_type="credit",
        refunded_transaction_id="sale_1",
    )
    normalised = braintree_event(declined)
    assert normalised.payment_id == api_id and normalised.event is not None
    assert normalised.event.kind == EventKind.REFUND_FAILED
    return replace(normalised.event, payment_id=handle.id)


@pytest.mark.parametrize("gateway", GATEWAYS)
async def test_a_pending_refund_failing_later_by_webhook_is_unbooked(
    env: WorkflowEnvironment, task_queue: str, gateway: str
) -> None:
    world = FakeWorld(gateways=(gateway,), refund_script=["pending"])
    async with worker(env.client, task_queue, world.activities()):
        handle, outcome = await _refund_pending(env, task_queue)
        world.settle_refund(outcome.reference, "failed")
        failed = _failure_webhook(gateway, handle, outcome)
        await handle.signal(PaymentWorkflow.gateway_event, failed)
        await handle.signal(PaymentWorkflow.gateway_event, failed)  # redelivered
        view = await _until(handle, _refund_failed)
        await env.sleep(policies.REFUND_STATUS_POLL_FIRST * 3)  # a poll sees it failed too
        view = await handle.query(PaymentWorkflow.status)
        await handle.terminate()
    assert view.gateway == gateway
    _assert_unbooked_once(world, view, outcome)


@pytest.mark.parametrize("gateway", GATEWAYS)
async def test_a_pending_refund_whose_webhook_is_lost_is_polled_until_it_fails(
    env: WorkflowEnvironment, task_queue: str, gateway: str
) -> None:
    world = FakeWorld(gateways=(gateway,), refund_script=["pending"])
    async with worker(env.client, task_queue, world.activities()):
        handle, outcome = await _refund_pending(env, task_queue)
        await env.sleep(policies.REFUND_STATUS_POLL_FIRST * 2)  # still pending at the gateway
        view = await handle.query(PaymentWorkflow.status)
        assert view.status == PaymentStatus.PARTIALLY_REFUNDED
        assert world.calls["refund_status"], "the pending refund was never read"
        world.settle_refund(outcome.reference, "failed")  # no webhook
        await env.sleep(policies.REFUND_STATUS_POLL_FIRST * 3)  # the next poll (backed off)
        view = await _until(handle, _refund_failed)
        await handle.terminate()
    _assert_unbooked_once(world, view, outcome)


@pytest.mark.parametrize("gateway", GATEWAYS)
async def test_a_pending_refund_whose_webhook_is_lost_is_polled_until_it_succeeds(
    env: WorkflowEnvironment, task_queue: str, gateway: str
) -> None:
    world = FakeWorld(gateways=(gateway,), refund_script=["pending"])
    async with worker(env.client, task_queue, world.activities()):
        handle, outcome = await _refund_pending(env, task_queue)
        world.settle_refund(outcome.reference, "succeeded")  # no webhook
        await env.sleep(policies.REFUND_STATUS_POLL_FIRST * 2)
        result = await handle.result()
    assert result.status == PaymentStatus.REFUNDED and result.refunded_minor == 1000
    assert [r.status for r in result.refunds] == ["succeeded"]
    assert world.net_posted(handle.id) == 0


async def test_a_settled_payment_whose_refund_fails_is_settled_again(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Every refund failed: the payment returns to where the charge left it, settled,
    not captured (a regression: status_after knew only captured)."""
    world = FakeWorld(refund_script=["pending"])
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client,
            payment_request(task_queue, options=PaymentOptions(refund_window_s=3600)),
            task_queue=task_queue,
        )
        await wait_status(handle, PaymentStatus.CAPTURED)
        settled = event(EventKind.SETTLEMENT_MATCHED, handle.id, "evt_settled")
        await handle.signal(PaymentWorkflow.gateway_event, settled)
        await wait_status(handle, PaymentStatus.SETTLED)
        outcome = await handle.execute_update(
            PaymentWorkflow.refund, RefundRequest("r1", 400, "USD")
        )
        assert outcome.status == "pending"
        world.settle_refund(outcome.reference, "failed")
        await handle.signal(
            PaymentWorkflow.gateway_event, _failure_webhook("stripe", handle, outcome)
        )
        view = await _until(handle, _refund_failed)
        await handle.terminate()
    assert view.status == PaymentStatus.SETTLED and view.refunded_minor == 0
    assert world.net_posted(view.payment_id) == 1000
