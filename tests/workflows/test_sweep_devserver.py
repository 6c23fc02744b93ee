"""SweepWorkflow on the real engine: orphans made straight through the official SDKs against
the sandboxes (no workflow behind them) and a stranded ledger hold are reported and
resolved; a live payment's charge and hold are left alone; a second sweep does nothing."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import stripe

from activities.chart import Chart
from ledger.types import EntryRequest, Leg
from paysaga.client.starts import run_sweep
from paysaga.domain.payments import PaymentOptions
from paysaga.domain.status import PaymentStatus
from paysaga.domain.sweep import Action, Finding, Reason, SweepReport, SweepRequest
from paysaga.gateways.braintree_gateway import BraintreeGateway
from tests.workflows.engine import Engine, wait_for
from workflows.payment import PaymentWorkflow


def _stripe(engine: Engine) -> stripe.StripeClient:
    return stripe.StripeClient(
        engine.settings.stripe_api_key.get_secret_value(),
        base_addresses={"api": engine.settings.stripe_base()},
        max_network_retries=0,
    )


def _orphan_intents(client: stripe.StripeClient) -> tuple[str, str]:
    """A captured charge and an authorization, neither with a payment of ours."""
    intents = client.v1.payment_intents

    def create(amount: int, capture_method: Any) -> stripe.PaymentIntent:
        return intents.create(
            params={
                "amount": amount,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "capture_method": capture_method,
            }
        )

    captured, held = create(2100, "automatic"), create(2200, "manual")
    assert (captured.status, held.status) == ("succeeded", "requires_capture")
    return captured.id, held.id


def _orphan_sale(engine: Engine, *, submit: bool) -> str:
    """A Braintree sale with no order id of ours, made through the SDK the adapter wraps."""
    gateway = BraintreeGateway.from_settings(engine.settings)
    result = gateway._gw.transaction.sale(
        {
            "amount": "23.00",
            "payment_method_nonce": "fake-valid-nonce",
            "merchant_account_id": f"{engine.settings.braintree_merchant_id}_usd",
            "options": {"submit_for_settlement": submit},
        }
    )
    gateway.close()
    assert result.is_success, result
    return str(result.transaction.id)


def _braintree_find(engine: Engine, reference: str) -> Any:
    gateway = BraintreeGateway.from_settings(engine.settings)
    try:
        return gateway._gw.transaction.find(reference)
    finally:
        gateway.close()


async def _stranded_hold(engine: Engine) -> str:
    """A pending hold placed for a payment whose workflow never existed."""
    assert engine.deps.ledger is not None
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    receivable, payable = await Chart(engine.deps.ledger).payment_accounts(
        merchant, "stripe", "USD"
    )
    result = await engine.deps.ledger.post_entry(
        EntryRequest(
            idempotency_key=f"test-stranded-{merchant}",
            legs=(Leg(receivable, "debit", 700, "USD"), Leg(payable, "credit", 700, "USD")),
            pending=True,
            description="payment hold",
            metadata={
                "payment_id": f"payment-gone-{merchant}",
                "gateway": "stripe",
                "kind": "charge",
            },
        )
    )
    return result.entry_id


async def _sweep(engine: Engine) -> SweepReport:
    request = SweepRequest(
        lag_s=0,
        lookback_s=3600,
        hold_age_s=0,
        sweep_id=f"sweep-test-{uuid.uuid4().hex[:8]}",
        routing=engine.routing,
    )
    return await run_sweep(engine.client, request, task_queue=engine.names.payments)


def _by_reference(report: SweepReport) -> dict[str, Finding]:
    return {f.reference: f for f in report.findings}


async def _sweep_until(engine: Engine, references: set[str]) -> tuple[dict[str, Finding], int]:
    """Sweep until every reference was reported (listings may show objects late, as the
    real ones do; a repeated sweep is harmless). Returns the findings and the live count."""
    found: dict[str, Finding] = {}
    live = 0
    for _ in range(30):
        report = await _sweep(engine)
        found.update(_by_reference(report))
        live = max(live, report.counts.get(Reason.OWNED_BY_LIVE_WORKFLOW, 0))
        if references <= found.keys():
            break
        await asyncio.sleep(1)
    return found, live


async def test_sweep_resolves_orphans_and_leaves_live_payments(engine: Engine) -> None:
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    live = await engine.start(engine.card("stripe", merchant, capture_mode="manual"))
    live_view = await wait_for(live, {PaymentStatus.AWAITING_CAPTURE})
    client = _stripe(engine)
    captured_id, held_id = await asyncio.to_thread(_orphan_intents, client)
    settled_id = await asyncio.to_thread(_orphan_sale, engine, submit=True)
    await engine.settle_sandboxes()
    submitted_id = await asyncio.to_thread(_orphan_sale, engine, submit=True)
    authorized_id = await asyncio.to_thread(_orphan_sale, engine, submit=False)
    hold_id = await _stranded_hold(engine)
    await asyncio.sleep(1.1)  # listing windows are in whole seconds

    sales_ids = (settled_id, submitted_id, authorized_id)
    expected = {
        captured_id: Action.REFUND,
        held_id: Action.VOID,
        settled_id: Action.REFUND,
        submitted_id: Action.REFUND,
        authorized_id: Action.VOID,
    }
    found, live_count = await _sweep_until(engine, {*expected, hold_id})
    for reference, action in expected.items():
        assert found[reference].reason is Reason.ORPHAN, found[reference]
        assert found[reference].action is action and found[reference].resolved
    assert found[hold_id].reason is Reason.HOLD_WITHOUT_WORKFLOW and found[hold_id].resolved
    assert live_count >= 1  # the live charge (its hold is counted apart)

    # Resolved at the gateways ...
    intent = client.v1.payment_intents.retrieve(captured_id, params={"expand": ["latest_charge"]})
    assert intent.latest_charge.amount_refunded == 2100  # type: ignore[union-attr]
    assert client.v1.payment_intents.retrieve(held_id).status == "canceled"
    sales = [
        await asyncio.to_thread(_braintree_find, engine, i) for i in expected if i in sales_ids
    ]
    assert [(s.status, len(s.refund_ids)) for s in sales] in (
        # Before settlement a refund is a void; the sandbox may settle the submitted sale
        # before the sweep reaches it, and then it is refunded.
        [("settled", 1), ("voided", 0), ("voided", 0)],
        [("settled", 1), ("settled", 1), ("voided", 0)],
    )
    # ... and in the ledger.
    assert engine.deps.ledger is not None
    voids = [
        e
        for e in await engine.deps.ledger.find_entries("payment_id", found[hold_id].payment_id)
        if e.kind == "void_pending"
    ]
    assert [v.pending_of for v in voids] == [hold_id]

    # The live payment was left alone: still authorized, still held, not in the report.
    assert live_view.reference not in found and live_view.hold_entry_id not in found
    assert client.v1.payment_intents.retrieve(str(live_view.reference)).status == (
        "requires_capture"
    )
    assert (await live.query(PaymentWorkflow.status)).status == PaymentStatus.AWAITING_CAPTURE

    # A second sweep finds nothing left to do for them.
    again = _by_reference(await _sweep(engine))
    assert not {*expected, hold_id} & set(again)


async def test_sweep_refunds_a_second_charge_of_a_closed_payment(engine: Engine) -> None:
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    request = replace(engine.card("stripe", merchant), options=PaymentOptions(refund_window_s=1))
    handle = await engine.start(request)
    view = await handle.result()  # captured and booked; the workflow closed
    assert view.status in (PaymentStatus.CAPTURED, PaymentStatus.SETTLED) and view.reference
    client = _stripe(engine)
    # A second charge for the same payment, as a resend after a lost answer leaves it.
    extra = await asyncio.to_thread(
        lambda: client.v1.payment_intents.create(
            params={
                "amount": 1500,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "metadata": {"payment_id": handle.id},
            }
        )
    )
    await asyncio.sleep(1.1)

    found, _ = await _sweep_until(engine, {extra.id})
    assert found[extra.id].reason is Reason.DUPLICATE_CHARGE and found[extra.id].resolved
    assert view.reference not in found  # the booked charge stays
    refunded = client.v1.payment_intents.retrieve(extra.id, params={"expand": ["latest_charge"]})
    assert refunded.latest_charge.amount_refunded == 1500  # type: ignore[union-attr]
    kept = client.v1.payment_intents.retrieve(view.reference, params={"expand": ["latest_charge"]})
    assert kept.latest_charge.amount_refunded == 0  # type: ignore[union-attr]
