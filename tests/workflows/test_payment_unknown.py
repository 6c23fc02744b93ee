"""Unknown authorization outcomes resolved before anything is resent or failed over (issue
13, defects 1, 2, 11, 12), against gateways whose searches lag (FakeWorld.lookup_misses)
and where Braintree has no idempotency key (FakeWorld.idempotent_gateways).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from paysaga.client.starts import start_payment
from paysaga.domain.events import EventKind, GatewayEvent
from paysaga.domain.payments import PaymentOptions, PaymentView
from paysaga.domain.status import PaymentStatus
from tests.workflows.fakes import FakeWorld
from tests.workflows.helpers import payment_request, worker
from workflows.payment import PaymentWorkflow

SHORT = PaymentOptions(refund_window_s=3600)


async def _pay(
    env: WorkflowEnvironment, task_queue: str, world: FakeWorld, options: PaymentOptions = SHORT
) -> PaymentView:
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=options), task_queue=task_queue
        )
        return await handle.result()


async def test_braintree_lagging_search_is_not_a_miss(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Defect 1: the sale went through, its answer was lost and the search does not show
    it yet. Resending at the first miss made a second sale (no idempotency at Braintree)."""
    world = FakeWorld(
        authorize_script=["unknown_done", "ok"], gateways=("braintree",), lookup_misses=2
    )
    view = await _pay(env, task_queue, world)
    assert view.status == PaymentStatus.CAPTURED
    assert len(world.calls["authorize"]) == 1 and len(world.sales) == 1
    assert world.net_posted(view.payment_id) == 1000


async def test_stripe_unavailable_is_answered_by_a_replay_not_a_search(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Defect 2: Stripe charged, the call still failed as unavailable and one search
    missed it: the payment failed over and the second gateway charged again. The replay
    of the create with the attempt's key returns the charge."""
    world = FakeWorld(authorize_script=["unavailable_done", "ok"], lookup_misses=1)
    view = await _pay(env, task_queue, world)
    assert (view.status, view.gateway) == (PaymentStatus.CAPTURED, "stripe")
    assert {a.gateway for a in world.calls["authorize"]} == {"stripe"}
    assert len(world.sales) == 1 and world.calls["refund"] == []


async def test_braintree_failover_waits_for_the_search_verdict(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Defect 2: failover decided on one search answer; a lagging search orphaned the
    first charge while the second gateway charged again."""
    world = FakeWorld(
        authorize_script=["unavailable_done", "ok"],
        gateways=("braintree", "stripe"),
        lookup_misses=2,
    )
    view = await _pay(env, task_queue, world)
    assert (view.status, view.gateway) == (PaymentStatus.CAPTURED, "braintree")
    assert [a.gateway for a in world.calls["authorize"]] == ["braintree"]
    assert len(world.sales) == 1 and world.calls["refund"] == []


async def test_lookup_is_of_this_attempt_not_an_earlier_dunning_one(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Defect 2: the lookup by payment id found the soft-declined first attempt's sale and
    took it for the second attempt's answer (a hard decline: the payment failed)."""
    world = FakeWorld(
        authorize_script=["soft", "unknown_lost", "ok"],
        gateways=("braintree",),
        declines_visible=True,
    )
    options = PaymentOptions(refund_window_s=3600, dunning_schedule_s=(3600,))
    view = await _pay(env, task_queue, world, options)
    assert view.status == PaymentStatus.CAPTURED, view.last_error
    second = world.calls["authorize"][1].idempotency_key
    assert {q.attempt_key for q in world.calls["lookup"]} == {second}
    assert [s.state for _, s in world.sales] == ["failed", "captured"]


async def test_an_unrecognised_error_is_resolved_not_a_failure(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Defect 11: an error type nobody classified (the adapter choked on the answer after
    the gateway charged) failed the payment with the charge standing."""
    world = FakeWorld(authorize_script=["malformed_done"], gateways=("braintree",), lookup_misses=1)
    view = await _pay(env, task_queue, world)
    assert view.status == PaymentStatus.CAPTURED, view.last_error
    assert len(world.sales) == 1
    assert world.net_posted(view.payment_id) == 1000


async def test_failing_lookups_are_alerted_not_a_verdict(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Defect 12: a lookup that failed for good (e.g. a 404 for the endpoint) failed the
    payment; it is retried on timers and alerted (LastError) until the gateway answers."""
    world = FakeWorld(authorize_script=["unknown_done"], gateways=("braintree",), lookup_failures=3)
    view = await _pay(env, task_queue, world)
    assert view.status == PaymentStatus.CAPTURED, view.last_error
    assert [s.name for s in view.steps].count("lookup_failed") == 3
    assert len(world.sales) == 1


async def test_an_unmatched_late_charge_is_flagged(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Defect 2: a `payment.captured` outside AUTHORIZING / REQUIRES_ACTION was dropped
    without comparing its reference with the payment's: a second charge went unseen."""
    world = FakeWorld()
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        view = await handle.query(PaymentWorkflow.status)
        while view.status != PaymentStatus.CAPTURED:
            await env.sleep(1)
            view = await handle.query(PaymentWorkflow.status)
        for reference in (view.reference, "pi_stray"):  # its own charge, then another
            event = GatewayEvent(
                event_id=uuid.uuid4().hex,
                gateway="stripe",
                kind=EventKind.PAYMENT_CAPTURED,
                occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
                reference=reference,
                payment_id=handle.id,
                amount_minor=1000,
            )
            await handle.signal(PaymentWorkflow.gateway_event, event)
        view = await handle.query(PaymentWorkflow.status)
        await handle.terminate()
    flagged = [s.detail for s in view.steps if s.name == "unmatched_charge"]
    assert len(flagged) == 1 and "pi_stray" in flagged[0]
    assert view.last_error is not None and "pi_stray" in view.last_error
    assert view.status == PaymentStatus.CAPTURED


async def test_a_braintree_refusal_is_resent_without_a_search_verdict(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Chaos finding (seed 577881577): a 429 at Braintree, which proves nothing was
    charged, waited a minute for a search verdict per send, and after three such sends
    the payment failed although the gateway had charged nothing. It is resent at once."""
    world = FakeWorld(authorize_script=["refused", "refused", "ok"], gateways=("braintree",))
    view = await _pay(env, task_queue, world)
    assert (view.status, view.gateway) == (PaymentStatus.CAPTURED, "braintree")
    assert len(world.calls["authorize"]) == 3 and len(world.sales) == 1
    assert world.calls["lookup"] == []


async def test_the_verdict_waits_the_gateways_own_search_lag_bound(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """The lag bound is the operator's per gateway (Settings.braintree_search_lag_s),
    carried on the failure: a gateway said to lag 6 s is resent after about 6 s, not
    after the 60 s default (nor before the bound)."""
    sent_at: list[datetime] = []
    world = FakeWorld(
        authorize_script=["unknown_lost", "ok"], gateways=("braintree",), search_lag_s=6.0
    )
    world.on_authorize = lambda _: sent_at.append(activity.info().current_attempt_scheduled_time)
    view = await _pay(env, task_queue, world)
    assert view.status == PaymentStatus.CAPTURED and len(world.sales) == 1
    waited = (sent_at[1] - sent_at[0]).total_seconds()
    assert 6 <= waited < 20, waited


async def test_a_braintree_5xx_is_resent_after_its_verdict(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """A Braintree 5xx may follow the sale, so it gets the search verdict; once that finds
    nothing it is resent on Braintree (as unknown outcomes are), not failed at once."""
    world = FakeWorld(
        authorize_script=["unavailable", "ok"], gateways=("braintree",), search_lag_s=5.0
    )
    view = await _pay(env, task_queue, world)
    assert (view.status, view.gateway) == (PaymentStatus.CAPTURED, "braintree")
    assert len(world.calls["authorize"]) == 2 and len(world.sales) == 1
    assert world.calls["lookup"]  # the verdict ran before the resend
