"""PaymentWorkflow on the time-skipping server with mocked gateway and ledger activities."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from paysaga.client.errors import IdempotencyConflict
from paysaga.client.starts import start_payment
from paysaga.domain.events import EventKind, GatewayEvent
from paysaga.domain.payments import CancelRequest, CaptureRequest, PaymentOptions, PaymentView
from paysaga.domain.refunds import RefundRequest
from paysaga.domain.routing import Routing
from paysaga.domain.status import PaymentStatus
from tests.workflows.fakes import FakeWorld
from tests.workflows.helpers import UPDATE_REJECTED, payment_request, worker
from workflows.payment import PaymentWorkflow
from workflows.payment.verdict import SEARCH_INTERVAL, SEARCH_LAG_BOUND


async def wait_status(
    handle: WorkflowHandle[PaymentWorkflow, PaymentView], status: PaymentStatus
) -> PaymentView:
    for _ in range(200):
        view = await handle.query(PaymentWorkflow.status)
        if view.status == status:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached {status}, last {view.status}: {view.last_error}")


def event(
    kind: EventKind, payment_id: str, event_id: str | None = None, **kw: object
) -> GatewayEvent:
    return GatewayEvent(
        event_id=event_id or uuid.uuid4().hex,
        gateway="stripe",
        kind=kind,
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        payment_id=payment_id,
        **kw,  # type: ignore[arg-type]
    )


SHORT = PaymentOptions(refund_window_s=3600)
# Lookups of one search verdict: at once, then every interval until the lag bound.
_LOOKUPS_TO_VERDICT = SEARCH_LAG_BOUND // SEARCH_INTERVAL + 1


def local_ledger(task_queue: str) -> Routing:
    """How clients start payments: ledger postings as local activities."""
    return replace(Routing.single(task_queue), local_ledger=True)


async def test_local_ledger_postings_capture(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld()
    request = payment_request(task_queue, options=SHORT, routing=local_ledger(task_queue))
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        view = await wait_status(handle, PaymentStatus.CAPTURED)
        history = await handle.fetch_history()
        await handle.result()  # skips the refund window, so no open workflow is left behind
    assert view.captured_minor == 1000 and world.net_posted(handle.id) == 1000
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    markers = [
        e
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    # Route and authorize are activity tasks; hold and capture ran in the workflow's worker.
    assert not any(name.startswith("ledger.") for name in scheduled)
    assert len(markers) == 2


async def test_local_ledger_refusal_compensates(env: WorkflowEnvironment, task_queue: str) -> None:
    # A local activity's failure reaches the workflow bare, not as ActivityError: the
    # payment must still fail cleanly (compensated), not fail the workflow.
    world = FakeWorld(refuse_hold=True)
    request = payment_request(task_queue, options=SHORT, routing=local_ledger(task_queue))
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        result = await handle.result()
    assert result.status == PaymentStatus.FAILED
    assert result.last_error and "UnknownAccount" in result.last_error
    assert world.calls["authorize"] == []


async def test_success_captures_and_posts(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld()
    request = payment_request(task_queue, options=SHORT)
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        view = await wait_status(handle, PaymentStatus.CAPTURED)
        attrs = (await handle.describe()).typed_search_attributes
        result = await handle.result()
    assert view.gateway == "stripe" and view.captured_minor == 1000
    assert result.status == PaymentStatus.CAPTURED
    assert world.net_posted(handle.id) == 1000
    auth = world.calls["authorize"][0]
    assert auth.idempotency_key == f"{handle.id}:authorize-1" and auth.capture_now
    values = {pair.key.name: pair.value for pair in attrs}
    assert values["PaymentStatus"] == "captured"
    assert values["Gateway"] == "stripe" and values["AmountMinor"] == 1000
    assert values["CustomerId"] == "c_1" and values["MerchantId"] == "m_1"
    names = [s.name for s in result.steps]
    assert names.index("ledger_hold") < names.index("authorized") < names.index("ledger_capture")


async def test_duplicate_start_returns_existing(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld()
    request = payment_request(task_queue, options=SHORT)
    async with worker(env.client, task_queue, world.activities()):
        first, created = await start_payment(env.client, request, task_queue=task_queue)
        second, again = await start_payment(env.client, request, task_queue=task_queue)
        assert second.id == first.id == f"payment-{request.idempotency_key}"
        assert created and not again
        await first.result()
        third, _ = await start_payment(env.client, request, task_queue=task_queue)  # after close
        assert (await third.result()).status == PaymentStatus.CAPTURED
    assert len(world.calls["authorize"]) == 1


async def test_same_key_different_request_is_refused(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld()
    request = payment_request(task_queue, options=SHORT)
    async with worker(env.client, task_queue, world.activities()):
        first, _ = await start_payment(env.client, request, task_queue=task_queue)
        other = replace(request, amount_minor=request.amount_minor + 1)
        with pytest.raises(IdempotencyConflict):
            await start_payment(env.client, other, task_queue=task_queue)  # running
        await first.result()
        with pytest.raises(IdempotencyConflict):
            await start_payment(env.client, other, task_queue=task_queue)  # closed
    assert len(world.calls["authorize"]) == 1


async def test_invalid_request_fails_with_reason(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld()
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, currency="XXX"), task_queue=task_queue
        )
        result = await handle.result()
    assert result.status == PaymentStatus.FAILED
    assert result.last_error and "unknown_currency" in result.last_error
    assert not world.calls["authorize"]


async def test_soft_decline_then_success_on_day_three(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld(authorize_script=["soft", "soft", "soft", "ok"])
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        result = await handle.result()
    assert result.status == PaymentStatus.CAPTURED and result.attempts == 4
    keys = [call.idempotency_key for call in world.calls["authorize"]]
    assert len(set(keys)) == 4  # each attempt is a new charge at the gateway
    statuses = [s for s in result.steps if s.name.startswith("status:")]
    first = next(s.at for s in statuses if s.name == "status:authorizing")
    last = [s.at for s in statuses if s.name == "status:authorizing"][-1]
    assert timedelta(days=3) <= last - first < timedelta(days=3, minutes=1)
    assert "status:retry_scheduled" in {s.name for s in statuses}
    assert world.net_posted(handle.id) == 1000
    assert result.last_error is None


async def test_soft_decline_exhausts_dunning(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld(authorize_script=["soft"])
    options = PaymentOptions(dunning_schedule_s=(60, 120))
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=options), task_queue=task_queue
        )
        result = await handle.result()
    assert result.status == PaymentStatus.FAILED and result.attempts == 3
    assert result.last_error and "dunning exhausted" in result.last_error
    assert all(e.state == "voided" for e in world.entries.values())


async def test_hard_decline_fails_at_once(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld(authorize_script=["hard"])
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue), task_queue=task_queue
        )
        result = await handle.result()
    assert result.status == PaymentStatus.FAILED and result.attempts == 1
    assert result.last_error and "stolen_card" in result.last_error
    assert result.decline_code == "stolen_card"
    assert [e.state for e in world.entries.values()] == ["voided"]  # hold compensated
    assert not world.calls["cancel"]


async def test_outcome_unknown_resolved_as_done(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld(authorize_script=["unknown_done"])
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        result = await handle.result()
    assert result.status == PaymentStatus.CAPTURED
    assert len(world.sales) == 1  # never charged twice
    # Stripe answers the replayed create with the stored result: no search needed.
    first, replay = world.calls["authorize"]
    assert first.idempotency_key == replay.idempotency_key
    assert world.calls["lookup"] == []
    assert world.net_posted(handle.id) == 1000


async def test_outcome_unknown_resolved_as_not_done(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld(authorize_script=["unknown_lost", "ok"])
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        result = await handle.result()
    assert result.status == PaymentStatus.CAPTURED
    first, second = world.calls["authorize"]
    assert first.idempotency_key == second.idempotency_key  # retried as the same request
    assert world.calls["lookup"] == []  # the replay itself is the check


async def test_failover_to_second_gateway(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld(authorize_script=["unavailable", "unavailable", "ok"])  # create, replay
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        result = await handle.result()
    assert result.status == PaymentStatus.CAPTURED and result.gateway == "braintree"
    holds = [e for e in world.entries.values() if e.kind == "hold"]
    assert sorted(e.state for e in holds) == ["posted", "voided"]


async def test_unavailable_after_the_gateway_charged_is_not_a_failover(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """An attempt timed out after the gateway charged and the last retry got a 5xx: the
    failure says unavailable, but the customer is charged. Failing over charged them a
    second time; failing left the charge without a payment (found by bench.chaos)."""
    world = FakeWorld(authorize_script=["unavailable_done", "ok"], gateways=("braintree", "stripe"))
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        result = await handle.result()
    assert result.status == PaymentStatus.CAPTURED and result.gateway == "braintree"
    assert len(world.calls["authorize"]) == 1  # no second gateway was asked
    assert world.net_posted(handle.id) == 1000
    assert "lookup" in [step.name for step in result.steps]


async def test_a_captured_charge_of_a_failed_payment_is_booked_and_refunded(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """The gateway captured the charge, but the payment fails (here: its search showed
    the charge only after the lag bound, against the assumption). A captured charge cannot
    be voided, so the
    compensation books the capture and refunds it, and the books match the gateway."""
    lag = _LOOKUPS_TO_VERDICT  # the search shows the charge only after the lag bound
    # The resend after the (wrong) "not charged" verdict is declined: the payment fails.
    world = FakeWorld(
        authorize_script=["unavailable_done", "hard"], lookup_misses=lag, gateways=("braintree",)
    )
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        result = await handle.result()
    assert result.status == PaymentStatus.FAILED
    assert [r.idempotency_key for r in world.calls["refund"]] == [f"{handle.id}:compensate-refund"]
    assert result.captured_minor == result.refunded_minor == 1000
    assert world.net_posted(handle.id) == 0  # captured, then reversed
    assert [e.state for e in world.entries.values() if e.kind == "hold"] == ["posted"]
    assert world.calls["void"] == []  # nothing left pending to void
    assert "captured_charge_refunded" in [step.name for step in result.steps]


async def test_failover_after_refunding_the_first_gateways_charge(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """The first gateway charged but its search did not show it within the lag bound, so
    the payment failed over; the compensation then found the capture and refunded it. The
    second gateway's charge is the payment's, and stays refundable in full."""
    # Braintree's resends are refused (429s) until it fails over to Stripe.
    world = FakeWorld(
        authorize_script=["unavailable_done", "refused", "refused", "ok"],
        lookup_misses=_LOOKUPS_TO_VERDICT,
        gateways=("braintree", "stripe"),
    )
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        await env.sleep(600)  # past the search verdicts' timers (queries skip no time)
        view = await wait_status(handle, PaymentStatus.CAPTURED)
        assert view.gateway == "stripe"
        assert (view.captured_minor, view.refunded_minor) == (1000, 0)
        assert [r.request_id for r in view.refunds] == ["compensation"]
        assert world.net_posted(handle.id) == 1000  # stripe: +1000 -1000, braintree: +1000
        outcome = await handle.execute_update(
            PaymentWorkflow.refund, RefundRequest("r1", 1000, "USD")
        )
        result = await handle.result()
    assert outcome.refunded_total_minor == 1000 and result.status == PaymentStatus.REFUNDED
    assert [r.reference for r in world.calls["refund"]] == ["ref-1-braintree", "ref-4-stripe"]
    assert world.net_posted(handle.id) == 0


async def test_capture_later_partial(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld()
    request = payment_request(task_queue, capture_mode="manual", options=SHORT)
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        waiting = await wait_status(handle, PaymentStatus.AWAITING_CAPTURE)
        assert waiting.authorization_expires_at is not None
        attrs = (await handle.describe()).typed_search_attributes
        assert {p.key.name: p.value for p in attrs}["PaymentStatus"] == "awaiting_capture"
        with pytest.raises(UPDATE_REJECTED):
            await handle.execute_update(PaymentWorkflow.capture, CaptureRequest("c0", 5000))
        captured = await handle.execute_update(PaymentWorkflow.capture, CaptureRequest("c1", 600))
        assert captured.status == PaymentStatus.CAPTURED and captured.captured_minor == 600
        await handle.result()
    assert world.calls["capture"][0].idempotency_key == f"{handle.id}:capture"
    assert world.net_posted(handle.id) == 600


async def test_authorization_expiry_voids(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld()
    request = payment_request(task_queue, capture_mode="manual")
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        result = await handle.result()
    assert result.status == PaymentStatus.CANCELED
    assert result.last_error == "authorization_expired"
    assert len(world.calls["cancel"]) == 1
    assert [e.state for e in world.entries.values()] == ["voided"]
    expiry = next(s.at for s in result.steps if s.name == "compensating")
    started = next(s.at for s in result.steps if s.name == "status:awaiting_capture")
    assert timedelta(days=7) <= expiry - started < timedelta(days=7, seconds=1)


async def test_cancel_update_before_capture(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld()
    request = payment_request(task_queue, capture_mode="manual")
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.AWAITING_CAPTURE)
        view = await handle.execute_update(PaymentWorkflow.cancel, CancelRequest("x", "fraud"))
        assert view.status == PaymentStatus.CANCELED and view.last_error == "canceled: fraud"
        await handle.result()
    assert len(world.calls["cancel"]) == 1


async def test_partial_then_full_refund(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld()
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue), task_queue=task_queue
        )
        await wait_status(handle, PaymentStatus.CAPTURED)
        with pytest.raises(UPDATE_REJECTED):  # currency must match
            await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r0", 100, "EUR"))
        first = await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r1", 300, "USD"))
        assert first.refunded_total_minor == 300
        again = await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r1", 300, "USD"))
        assert again == first  # same request id: same answer, no second refund
        view = await handle.query(PaymentWorkflow.status)
        assert view.status == PaymentStatus.PARTIALLY_REFUNDED
        with pytest.raises(UPDATE_REJECTED):  # more than captured minus refunded
            await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r2", 701, "USD"))
        await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r3", 700, "USD"))
        result = await handle.result()  # fully refunded: the workflow ends
    assert result.status == PaymentStatus.REFUNDED and result.refunded_minor == 1000
    assert len(world.calls["refund"]) == 2
    keys = {c.idempotency_key for c in world.calls["refund"]}
    assert keys == {f"{handle.id}:refund-r1", f"{handle.id}:refund-r3"}
    assert world.net_posted(handle.id) == 0


async def test_refund_resent_after_unknown_outcome_and_transient_errors(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """A refund whose response was lost is resent with the same key, not failed.

    A failed refund update is final for its request id (Temporal answers the retried
    update id with the first outcome), so failing here left the gateway refunded and
    the ledger not (found by bench.chaos).
    """
    world = FakeWorld(refund_script=["unknown_done", "unavailable", "ok"])
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue), task_queue=task_queue
        )
        await wait_status(handle, PaymentStatus.CAPTURED)
        outcome = await handle.execute_update(
            PaymentWorkflow.refund, RefundRequest("r1", 1000, "USD")
        )
        result = await handle.result()
    assert outcome.refunded_total_minor == 1000
    assert result.status == PaymentStatus.REFUNDED
    assert [c.idempotency_key for c in world.calls["refund"]] == [f"{handle.id}:refund-r1"] * 3
    assert world.net_posted(handle.id) == 0  # refunded once in the ledger too
    assert "refund_outcome_unknown" in [step.name for step in result.steps]


async def test_refund_before_capture_rejected(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld()
    request = payment_request(task_queue, capture_mode="manual")
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.AWAITING_CAPTURE)
        with pytest.raises(UPDATE_REJECTED):
            await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r", 100, "USD"))
        await handle.execute_update(PaymentWorkflow.cancel, CancelRequest("c"))
        await handle.result()
    assert not world.calls["refund"]


async def test_concurrent_refund_race_has_one_winner(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld(refund_delay_s=0.2)
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        await wait_status(handle, PaymentStatus.CAPTURED)
        outcomes = await asyncio.gather(
            handle.execute_update(PaymentWorkflow.refund, RefundRequest("a", 600, "USD")),
            handle.execute_update(PaymentWorkflow.refund, RefundRequest("b", 600, "USD")),
            return_exceptions=True,
        )
        view = await handle.query(PaymentWorkflow.status)
        await handle.result()
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], UPDATE_REJECTED)
    assert len(world.calls["refund"]) == 1
    assert view.refunded_minor == 600 and view.status == PaymentStatus.PARTIALLY_REFUNDED


async def test_webhooks_deduplicated_and_monotonic(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld()
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        await wait_status(handle, PaymentStatus.CAPTURED)
        matched = event(EventKind.SETTLEMENT_MATCHED, handle.id, "evt_settled")
        late = event(EventKind.PAYMENT_AUTHORIZED, handle.id, "evt_old")  # out of order
        for e in (matched, matched, late, matched):
            await handle.signal(PaymentWorkflow.gateway_event, e)
        view = await wait_status(handle, PaymentStatus.SETTLED)
        await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r", 400, "USD"))
        # A late "captured" or "settled" report must not move it back.
        for kind in (EventKind.SETTLEMENT_MATCHED, EventKind.PAYMENT_CAPTURED):
            await handle.signal(PaymentWorkflow.gateway_event, event(kind, handle.id))
        later = await handle.query(PaymentWorkflow.status)
        assert later.status == PaymentStatus.PARTIALLY_REFUNDED
        await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r2", 600, "USD"))
        result = await handle.result()
    assert view.events_seen.count("evt_settled") == 1
    assert set(view.events_seen) == {"evt_settled", "evt_old"}
    assert sum(1 for s in view.steps if s.detail == "evt_settled") == 1
    assert result.status == PaymentStatus.REFUNDED


async def test_webhook_confirms_before_gateway_response(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld(authorize_script=["slow"])
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        for _ in range(100):
            if world.calls["authorize"]:
                break
            await asyncio.sleep(0.05)
        confirm = event(
            EventKind.PAYMENT_CAPTURED, handle.id, reference="ref-hook", amount_minor=1000
        )
        await handle.signal(PaymentWorkflow.gateway_event, confirm)
        view = await wait_status(handle, PaymentStatus.CAPTURED)
        world.release_slow.set()
        await handle.result()
    assert view.reference == "ref-hook"
    assert "confirmed_by_webhook" in {s.name for s in view.steps}


async def test_ach_settles(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld()
    request = payment_request(task_queue, method_type="ach", payment_method="ba_123", options=SHORT)
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.PROCESSING)
        await handle.signal(PaymentWorkflow.gateway_event, event(EventKind.ACH_SETTLED, handle.id))
        await wait_status(handle, PaymentStatus.SETTLED)
        result = await handle.result()
    assert result.status == PaymentStatus.SETTLED
    assert world.net_posted(handle.id) == 1000


async def test_ach_return_reverses_ledger(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld()
    request = payment_request(task_queue, method_type="ach", payment_method="ba_123")
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.PROCESSING)
        returned = event(EventKind.ACH_RETURNED, handle.id, data={"return_code": "R01"})
        await handle.signal(PaymentWorkflow.gateway_event, returned)
        result = await handle.result()
    assert result.status == PaymentStatus.RETURNED
    assert result.last_error and "R01" in result.last_error
    assert world.net_posted(handle.id) == 0
    assert [c.reason for c in world.calls["reverse"]] == ["ach_return"]


async def test_ach_return_after_settlement(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld()
    request = payment_request(task_queue, method_type="ach", payment_method="ba_9")
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.PROCESSING)
        await handle.signal(PaymentWorkflow.gateway_event, event(EventKind.ACH_SETTLED, handle.id))
        await wait_status(handle, PaymentStatus.SETTLED)
        await handle.signal(
            PaymentWorkflow.gateway_event,
            event(EventKind.ACH_RETURNED, handle.id, data={"return_code": "R10"}),
        )
        result = await handle.result()
    assert result.status == PaymentStatus.RETURNED
    assert world.net_posted(handle.id) == 0


async def test_ach_r10_return_59_days_after_settlement_reaches_the_payment(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Issue 15 item 3: an ACH debit stays open through the R10 window (60 days after
    settlement) even when the merchant's refund window is an hour; before, the run ended
    after the hour and the late return found it closed (the signal failed)."""
    world = FakeWorld()
    request = payment_request(task_queue, method_type="ach", payment_method="ba_10", options=SHORT)
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.PROCESSING)
        await handle.signal(PaymentWorkflow.gateway_event, event(EventKind.ACH_SETTLED, handle.id))
        await wait_status(handle, PaymentStatus.SETTLED)
        await env.sleep(timedelta(days=59))
        await handle.signal(
            PaymentWorkflow.gateway_event,
            event(EventKind.ACH_RETURNED, handle.id, data={"return_code": "R10"}),
        )
        result = await handle.result()
    assert result.status == PaymentStatus.RETURNED
    assert result.last_error and "R10" in result.last_error
    assert world.net_posted(handle.id) == 0
    assert [c.reason for c in world.calls["reverse"]] == ["ach_return"]


async def test_ach_settles_on_stripe_succeeded_webhook(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    world = FakeWorld()
    request = payment_request(task_queue, method_type="ach", payment_method="ba_7", options=SHORT)
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(env.client, request, task_queue=task_queue)
        await wait_status(handle, PaymentStatus.PROCESSING)
        succeeded = event(EventKind.PAYMENT_CAPTURED, handle.id)  # payment_intent.succeeded
        await handle.signal(PaymentWorkflow.gateway_event, succeeded)
        view = await wait_status(handle, PaymentStatus.SETTLED)
        await handle.result()
    assert view.captured_minor == 1000
