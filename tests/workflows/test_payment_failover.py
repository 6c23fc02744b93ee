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

SHORT = PaymentOptions(refund_window_s=3600)


async def _pay(env: WorkflowEnvironment, task_queue: str, world: FakeWorld) -> str:
    async with worker(env.client, task_queue, world.activities()):
        handle, _ = await start_payment(
            env.client, payment_request(task_queue, options=SHORT), task_queue=task_queue
        )
        result = await handle.result()
    return f"{result.status} {result.gateway}"


async def test_rate_limited_gateway_fails_over(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld(authorize_script=["rate_limited", "ok"])
    assert await _pay(env, task_queue, world) == f"{PaymentStatus.CAPTURED} braintree"
    assert [a.gateway for a in world.calls["authorize"]] == ["stripe", "braintree"]
    # Stripe is asked whether it charged anyway, then by the compensation (which has no
    # reference to cancel) whether anything is authorized there.
    assert [q.gateway for q in world.calls["lookup"]] == ["stripe", "stripe"]
    holds = [e for e in world.entries.values() if e.kind == "hold"]
    assert sorted(e.state for e in holds) == ["posted", "voided"]


async def test_every_gateway_unavailable_fails(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld(authorize_script=["unavailable"])
    assert await _pay(env, task_queue, world) == f"{PaymentStatus.FAILED} braintree"
    assert [a.gateway for a in world.calls["authorize"]] == ["stripe", "braintree"]
    assert all(e.state == "voided" for e in world.entries.values())


async def test_a_decline_never_fails_over(env: WorkflowEnvironment, task_queue: str) -> None:
    world = FakeWorld(authorize_script=["hard"])
    assert await _pay(env, task_queue, world) == f"{PaymentStatus.FAILED} stripe"
    assert [a.gateway for a in world.calls["authorize"]] == ["stripe"]


async def test_an_unresolved_unknown_outcome_never_fails_over(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """The gateway may have charged: another gateway could charge the customer twice."""
    world = FakeWorld(authorize_script=["unknown_lost"])
    assert await _pay(env, task_queue, world) == f"{PaymentStatus.FAILED} stripe"
    attempts = world.calls["authorize"]
    assert [a.gateway for a in attempts] == ["stripe"] * 3  # resent, never elsewhere
    assert len({a.idempotency_key for a in attempts}) == 1
