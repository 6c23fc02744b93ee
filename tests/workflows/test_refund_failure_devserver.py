"""A refund accepted pending that fails later, on the real engine and sandboxes (issue 13,
defect 6; chaos seed 577881577): Stripe's refund `pending` then `failed`, Braintree's
credit `submitted_for_settlement` then `settlement_declined`. The sandboxes here send no
webhooks (lost), so the workflow's poll of the refund by id finds the failure: the
payment stays open meanwhile, then un-books the refund and is captured again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest

from activities.reconciliation import ledger_item
from paysaga.domain.refunds import RefundRequest
from paysaga.domain.status import PaymentStatus
from tests.workflows.engine import Engine, wait_for
from workflows import policies
from workflows.payment import PaymentWorkflow

SETTLED_OR_CAPTURED = {PaymentStatus.CAPTURED, PaymentStatus.SETTLED}


@pytest.fixture
def failing_refunds(engine: Engine) -> Iterator[None]:
    urls = (engine.sandboxes.stripe_url, engine.sandboxes.braintree_url)
    fault = {"refund_pending_then_failed_rate": 1.0, "refund_fail_after_s": 1.0}
    for url in urls:
        httpx.post(f"{url}/__sandbox/faults", json=fault).raise_for_status()
    yield
    for url in urls:
        httpx.post(f"{url}/__sandbox/faults", json={}).raise_for_status()


async def _refund_fails(engine: Engine, gateway: str) -> None:
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    handle = await engine.start(engine.card(gateway, merchant))
    await wait_for(handle, SETTLED_OR_CAPTURED, 90)
    if gateway == "braintree":  # a settled sale is refunded by a credit (before: a void)
        await engine.settle_sandboxes()
    outcome = await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r1", 1500, "USD"))
    assert outcome.status == "pending", outcome
    view = await handle.query(PaymentWorkflow.status)
    assert view.status == PaymentStatus.PARTIALLY_REFUNDED  # open while pending
    poll_bound = (policies.REFUND_STATUS_POLL_FIRST * 3).total_seconds() + 30
    view = await wait_for(handle, SETTLED_OR_CAPTURED, poll_bound)
    assert [r.status for r in view.refunds] == ["failed"] and view.refunded_minor == 0
    assert "refund_status_polled" in [s.name for s in view.steps]
    assert engine.deps.ledger is not None
    entries = await engine.deps.ledger.find_entries("payment_id", handle.id)
    items = [i for i in map(ledger_item, entries) if i is not None]
    kinds = sorted((i.kind, i.refund_reference or "") for i in items)
    assert kinds == [
        ("charge", ""),
        ("refund", outcome.reference),
        ("refund_failure", outcome.reference),
    ]


async def test_pending_refunds_failing_later_are_unbooked(
    engine: Engine, failing_refunds: None
) -> None:
    await asyncio.gather(_refund_fails(engine, "stripe"), _refund_fails(engine, "braintree"))
