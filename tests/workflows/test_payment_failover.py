"""Failover between gateways, as the payment workflow does it: only a failure that proves
no authorization happened moves the payment to the next gateway. These were tests of
GatewayRouter.authorize_with_failover, which only tests used; the workflow's failover is
the one that runs (test_payment.py has the unavailable and charged-anyway cases).
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from paysaga.client.starts import start_payment
from paysaga.domain.payments import PaymentOptions
from paysaga.domain.status import PaymentStatus
from tests.workflows.fakes import FakeWorld
from tests.workflows.helpers import payment_request, worker
from workflows.payment.verdict import BRAINTREE_SENDS, STRIPE_REPLAYS

SHORT = PaymentOptions(refund_window_s=3600)


async def _pay(env: WorkflowEnvironment, task_queue: str, world: FakeWorld) -> str:
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        result = await handle.result()
    return f"{result.status} {result.gateway}"


async def test_rate_limited_gateway_fails_over(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld(authorize_script=["rate_limited", "rate_limited", "ok"])  # create, replay
    assert await _pay(env, task_queue, world) == f"{PaymentStatus.CAPTURED} braintree"
    # Stripe is asked whether it charged anyway (one replay of the create, then its
    # search until past the lag bound), then by the compensation (which has no reference
    # to cancel) whether anything is authorized there: always this attempt.
    assert [a.gateway for a in world.calls["authorize"]] == ["stripe", "stripe", "braintree"]
    assert {q.gateway for q in world.calls["lookup"]} == {"stripe"}
    assert {q.attempt_key for q in world.calls["lookup"]} == {
        world.calls["authorize"][0].idempotency_key
    }
    holds = [e for e in world.entries.values() if e.kind == "hold"]
    assert sorted(e.state for e in holds) == ["posted", "voided"]


async def test_every_gateway_unavailable_fails(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld(authorize_script=["unavailable"])
    assert await _pay(env, task_queue, world) == f"{PaymentStatus.FAILED} braintree"
    # Stripe's create is replayed once before its search decides. Braintree's 5xx may
    # follow a sale: resent after each "not charged" verdict, up to its bound of sends.
    sends = [a.gateway for a in world.calls["authorize"]]
    assert sends == ["stripe", "stripe"] + ["braintree"] * BRAINTREE_SENDS
    assert all(e.state == "voided" for e in world.entries.values())


async def test_a_decline_never_fails_over(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld(authorize_script=["hard"])
    assert await _pay(env, task_queue, world) == f"{PaymentStatus.FAILED} stripe"
    assert [a.gateway for a in world.calls["authorize"]] == ["stripe"]


async def test_an_unknown_outcome_fails_over_only_once_resolved(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """The gateway may have charged: another gateway could charge the customer twice.
    Stripe's create is replayed with its key, then its search must find nothing past the
    lag bound; Braintree's sale is resent only after such a verdict, a bounded number of
    times; only then does the payment move on (and here, fail)."""
    world = FakeWorld(authorize_script=["unknown_lost"])
    assert await _pay(env, task_queue, world) == f"{PaymentStatus.FAILED} braintree"
    attempts = world.calls["authorize"]
    stripe = [a for a in attempts if a.gateway == "stripe"]
    assert len(stripe) == 1 + STRIPE_REPLAYS and len({a.idempotency_key for a in stripe}) == 1
    assert [a.gateway for a in attempts[len(stripe) :]] == ["braintree"] * BRAINTREE_SENDS
    first_braintree = next(i for i, c in enumerate(world.calls["lookup"]) if c.gateway != "stripe")
    assert first_braintree > 0  # Stripe's verdict came before Braintree was asked
