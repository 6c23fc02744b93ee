"""The real engine: dev server, sandboxes (official SDKs over HTTP), PostgreSQL shards,
and the production activities and workers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.api.common.v1 import Payload

from activities import chart
from paysaga.client.starts import run_reconciliation
from paysaga.domain.payments import CaptureRequest
from paysaga.domain.reconciliation import ReconciliationRequest
from paysaga.domain.refunds import RefundRequest
from paysaga.domain.status import PaymentStatus
from tests.workflows.engine import Engine, wait_for
from workflows.payment import PaymentWorkflow

SETTLED_OR_CAPTURED = {PaymentStatus.CAPTURED, PaymentStatus.SETTLED}


async def test_card_payments_on_both_gateways_with_refund(engine: Engine) -> None:
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    handles = [await engine.start(engine.card(gw, merchant)) for gw in ("stripe", "braintree")]
    views = [await wait_for(h, SETTLED_OR_CAPTURED, 90) for h in handles]
    assert [v.gateway for v in views] == ["stripe", "braintree"]
    assert all(v.reference and v.captured_minor == 1500 for v in views)
    # Braintree refunds a capture partially only once it settled (else: retried later).
    await engine.settle_sandboxes()
    outcome = await handles[1].execute_update(
        PaymentWorkflow.refund, RefundRequest("r1", 500, "USD")
    )
    assert outcome.refunded_total_minor == 500 and outcome.reference
    assert engine.deps.ledger is not None
    payable = await engine.deps.ledger.get_balances(chart.merchant_payable(merchant, "USD"))
    assert (payable.posted, payable.pending) == (2500, 0)


async def test_awaiting_capture_visibility_query(engine: Engine) -> None:
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    manual = [
        await engine.start(engine.card(gw, merchant, capture_mode="manual"))
        for gw in ("stripe", "braintree", "stripe")
    ]
    automatic = await engine.start(engine.card("braintree", merchant))
    for handle in manual:
        await wait_for(handle, {PaymentStatus.AWAITING_CAPTURE})
    await wait_for(automatic, SETTLED_OR_CAPTURED)
    query = f"PaymentStatus = 'awaiting_capture' AND MerchantId = '{merchant}'"

    async def listed(expected: set[str]) -> set[str]:
        found: set[str] = set()
        for _ in range(100):  # visibility is eventually consistent
            found = {w.id async for w in engine.client.list_workflows(query)}
            if found == expected:
                break
            await asyncio.sleep(0.1)
        return found

    assert await listed({h.id for h in manual}) == {h.id for h in manual}
    captured = await manual[0].execute_update(PaymentWorkflow.capture, CaptureRequest("c1"))
    assert captured.status in SETTLED_OR_CAPTURED
    assert await listed({h.id for h in manual[1:]}) == {h.id for h in manual[1:]}


async def test_e2e_payments_refunds_reconcile_verify(engine: Engine) -> None:
    """A small e2e (20 payments); tests/e2e/test_payments_e2e.py runs the 200 of the issue."""
    await run_e2e(engine, count=20)


async def run_e2e(engine: Engine, count: int) -> None:
    merchant = f"m-{uuid.uuid4().hex[:8]}"
    gateways = ("stripe", "braintree")
    requests = [engine.card(gateways[i % 2], merchant, 1000 + i) for i in range(count)]
    handles = await asyncio.gather(*(engine.start(r) for r in requests))
    await asyncio.gather(*(wait_for(h, SETTLED_OR_CAPTURED, 120) for h in handles))
    refunded = handles[::5]  # both gateways
    # Braintree refunds a capture partially only once it settled.
    await engine.settle_sandboxes()
    await asyncio.gather(
        *(
            h.execute_update(PaymentWorkflow.refund, RefundRequest("r", 400, "USD"))
            for h in refunded
        )
    )
    await engine.settle_sandboxes()
    now = datetime.now(UTC)
    report = await run_reconciliation(
        engine.client,
        ReconciliationRequest(
            period_start=now - timedelta(hours=12),
            period_end=now + timedelta(hours=1),
            report_id=f"e2e-{merchant}",
            routing=engine.routing,
        ),
        task_queue=engine.names.payments,
    )
    assert report.exceptions == (), report.exceptions
    assert report.matched_count >= count + len(refunded)
    assert engine.deps.ledger is not None
    verify = await engine.deps.ledger.verify()
    assert verify.ok, verify.violations
    settled = await asyncio.gather(*(h.query(PaymentWorkflow.status) for h in handles))
    assert {v.status for v in settled} <= {
        PaymentStatus.SETTLED,
        PaymentStatus.PARTIALLY_REFUNDED,
    }


async def test_onboarding_with_plaid_sandbox(engine: Engine) -> None:
    from paysaga.client.starts import start_onboarding
    from paysaga.domain.onboarding import OnboardingRequest, PublicTokenSubmission
    from paysaga.domain.status import OnboardingStatus
    from paysaga.sandbox.testdata import PLAID_INSTITUTION_ID, PLAID_SANDBOX_OWNER_NAME
    from workflows.onboarding import OnboardingWorkflow

    onboarding_id = uuid.uuid4().hex[:12]
    request = OnboardingRequest(
        onboarding_id=onboarding_id,
        customer_id=f"cust-{onboarding_id}",
        legal_name=PLAID_SANDBOX_OWNER_NAME,
        email="alberta@example.com",
        routing=engine.routing,
    )
    handle, _ = await start_onboarding(engine.client, request, task_queue=engine.names.payments)
    for _ in range(100):
        view = await handle.query(OnboardingWorkflow.status)
        if view.status == OnboardingStatus.AWAITING_PUBLIC_TOKEN:
            break
        await asyncio.sleep(0.1)
    assert view.link_token
    assert engine.deps.plaid is not None and engine.deps.secrets is not None
    public_token = await asyncio.to_thread(
        engine.deps.plaid.sandbox_public_token, PLAID_INSTITUTION_ID
    )
    await handle.execute_update(
        OnboardingWorkflow.submit_public_token, PublicTokenSubmission(public_token)
    )
    result = await handle.result()
    assert result.status == OnboardingStatus.COMPLETED, result.last_error
    # Not a merchant's onboarding: no bank-account record, and (issue 15 item 5) no
    # customer ledger accounts.
    assert result.bank_account_ref and result.customer_ref and result.accounts == ()
    # The access token is in the secret store, never in the workflow's (decrypted) history.
    token = await engine.deps.secrets.get_text(f"plaid-access:{onboarding_id}")
    codec = engine.client.data_converter.payload_codec
    assert token and codec is not None
    history = await handle.fetch_history()
    decoded = 0
    for event in history.events:
        payloads: list[Payload] = []
        if event.HasField("activity_task_completed_event_attributes"):
            payloads = list(event.activity_task_completed_event_attributes.result.payloads)
        elif event.marker_recorded_event_attributes.marker_name == "core_local_activity":
            # Local activities (the ledger postings) record their result in a marker.
            marked = event.marker_recorded_event_attributes.details.get("result")
            payloads = list(marked.payloads) if marked else []
        for payload in await codec.decode(payloads):
            assert token.encode() not in payload.data
            decoded += 1
    assert decoded >= 4  # link, exchange, verify, bank account (no ledger step since issue 15)
