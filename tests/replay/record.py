"""Record workflow histories for the replay tests: `python -m tests.replay.record`.

Runs each scenario on the time-skipping test server with the mocked activities of
tests/workflows (default data converter) and writes its history to histories/<name>.json.
Re-record after an intended, versioned change of a workflow; an unintended one then shows
up as a replay failure in CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from paysaga.client.starts import (
    run_sweep,
    start_onboarding,
    start_payment,
    start_reconciliation,
    start_transfer,
)
from paysaga.domain.bank_accounts import BankAccountRef
from paysaga.domain.events import EventKind, GatewayEvent
from paysaga.domain.ledger import TransferRequest
from paysaga.domain.onboarding import OnboardingOptions, OnboardingRequest, PublicTokenSubmission
from paysaga.domain.payments import CaptureRequest, PaymentOptions
from paysaga.domain.reconciliation import ReconciliationRequest
from paysaga.domain.refunds import RefundRequest
from paysaga.domain.routing import Routing
from paysaga.domain.status import PaymentStatus
from paysaga.stack.binaries import temporal_test_server
from tests.workflows.conftest import _TYPES
from tests.workflows.fakes import FakeWorld
from tests.workflows.helpers import payment_request, worker
from tests.workflows.test_onboarding import FakePlaid
from tests.workflows.test_reconciliation import GATEWAY, LEDGER, FakeRecon
from tests.workflows.test_sweep_workflow import FakeSweep, one_slice
from tests.workflows.test_transfer import FakeShards
from workflows.onboarding import OnboardingWorkflow
from workflows.payment import PaymentWorkflow

HISTORIES = Path(__file__).parent / "histories"
SHORT = PaymentOptions(refund_window_s=3600)
Scenario = Callable[[Client, str], Awaitable[WorkflowHandle[Any, Any]]]


async def _until(handle: WorkflowHandle[Any, Any], status: str) -> None:
    for _ in range(200):
        if str((await handle.query("status"))["status"]) == status:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{handle.id} never reached {status}")


async def payment_success(client: Client, tq: str) -> WorkflowHandle[Any, Any]:
    handle, _ = await start_payment(client, payment_request(tq, options=SHORT), task_queue=tq)
    await handle.result()
    return handle


async def payment_dunning(client: Client, tq: str) -> WorkflowHandle[Any, Any]:
    handle, _ = await start_payment(client, payment_request(tq, options=SHORT), task_queue=tq)
    await handle.result()
    return handle


async def payment_manual_refunds(client: Client, tq: str) -> WorkflowHandle[Any, Any]:
    request = payment_request(tq, capture_mode="manual", options=SHORT)
    handle, _ = await start_payment(client, request, task_queue=tq)
    await _until(handle, PaymentStatus.AWAITING_CAPTURE)
    await handle.execute_update(PaymentWorkflow.capture, CaptureRequest("c", 800))
    await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r1", 300, "USD"))
    event = GatewayEvent("evt-1", "stripe", EventKind.SETTLEMENT_MATCHED, datetime.now(UTC))
    await handle.signal(PaymentWorkflow.gateway_event, event)
    await handle.signal(PaymentWorkflow.gateway_event, event)
    await handle.execute_update(PaymentWorkflow.refund, RefundRequest("r2", 500, "USD"))
    await handle.result()
    return handle


async def payment_expiry(client: Client, tq: str) -> WorkflowHandle[Any, Any]:
    request = payment_request(tq, capture_mode="manual")
    handle, _ = await start_payment(client, request, task_queue=tq)
    await handle.result()
    return handle


async def payment_ach_return(client: Client, tq: str) -> WorkflowHandle[Any, Any]:
    request = payment_request(tq, method_type="ach", payment_method="ba_1")
    handle, _ = await start_payment(client, request, task_queue=tq)
    await _until(handle, PaymentStatus.PROCESSING)
    returned = GatewayEvent(
        "evt-r", "stripe", EventKind.ACH_RETURNED, datetime.now(UTC), data={"return_code": "R01"}
    )
    await handle.signal(PaymentWorkflow.gateway_event, returned)
    await handle.result()
    return handle


async def payment_ach_balance_decline(client: Client, tq: str) -> WorkflowHandle[Any, Any]:
    """Issue 15: an ACH debit from a bank account whose Plaid balance is short."""
    request = payment_request(
        tq,
        method_type="ach",
        payment_method="ba_1",
        customer_ref="cus_1",
        amount_minor=20_000,  # FakePlaid reports 100.00 available
        bank_account=BankAccountRef("bank_" + "0" * 24, "plaid-access:o", "acc-1"),
        options=PaymentOptions(refund_window_s=3600, balance_check=True),
    )
    handle, _ = await start_payment(client, request, task_queue=tq)
    await handle.result()
    return handle


async def onboarding_completed(client: Client, tq: str) -> WorkflowHandle[Any, Any]:
    request = OnboardingRequest(
        tq,
        "cust-1",
        "Alberta Charleson",
        "a@example.com",
        routing=Routing.single(tq),
        options=OnboardingOptions(reminder_interval_s=3600),
    )
    handle, _ = await start_onboarding(client, request, task_queue=tq)
    await _until(handle, "awaiting_public_token")
    await handle.execute_update(
        OnboardingWorkflow.submit_public_token, PublicTokenSubmission("public-x")
    )
    await handle.result()
    return handle


async def onboarding_bank_account(client: Client, tq: str) -> WorkflowHandle[Any, Any]:
    """A merchant's onboarding on the path of issue 15: it records its bank account."""
    request = OnboardingRequest(
        f"onboarding-mer_0123456789abcdef.{tq[-6:]}",
        "cust-1",
        "Alberta Charleson",
        "a@example.com",
        routing=Routing.single(tq),
        options=OnboardingOptions(reminder_interval_s=3600),
    )
    handle, _ = await start_onboarding(client, request, task_queue=tq)
    await _until(handle, "awaiting_public_token")
    await handle.execute_update(
        OnboardingWorkflow.submit_public_token, PublicTokenSubmission("public-x")
    )
    await handle.result()
    return handle


async def onboarding_expired(client: Client, tq: str) -> WorkflowHandle[Any, Any]:
    request = OnboardingRequest(tq, "cust-2", "A B", "b@example.com", routing=Routing.single(tq))
    handle, _ = await start_onboarding(client, request, task_queue=tq)
    await handle.result()
    return handle


async def transfer_failed_halfway(client: Client, tq: str) -> WorkflowHandle[Any, Any]:
    request = TransferRequest(tq, "a:USD", "b:USD", 500, "USD", routing=Routing.single(tq))
    handle, _ = await start_transfer(client, request, task_queue=tq)
    await handle.result()
    return handle


async def reconciliation(client: Client, tq: str) -> WorkflowHandle[Any, Any]:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    request = ReconciliationRequest(
        at, at + timedelta(days=1), report_id=tq, routing=Routing.single(tq)
    )
    handle, _ = await start_reconciliation(client, request, task_queue=tq)
    await handle.result()
    return handle


async def sweep(client: Client, tq: str) -> WorkflowHandle[Any, Any]:
    await run_sweep(client, one_slice(tq), task_queue=tq)
    return client.get_workflow_handle(tq)


SCENARIOS: dict[str, tuple[Scenario, dict[str, Any]]] = {
    "payment_success": (payment_success, {}),
    "payment_dunning": (payment_dunning, {"script": ["soft", "soft", "ok"]}),
    "payment_hard_decline": (payment_success, {"script": ["hard"]}),
    "payment_outcome_unknown": (payment_success, {"script": ["unknown_lost", "ok"]}),
    "payment_manual_refunds": (payment_manual_refunds, {}),
    "payment_authorization_expiry": (payment_expiry, {}),
    "payment_ach_return": (payment_ach_return, {}),
    "payment_ach_balance_decline": (payment_ach_balance_decline, {}),
    "onboarding_completed": (onboarding_completed, {}),
    "onboarding_expired": (onboarding_expired, {}),
    "onboarding_bank_account": (onboarding_bank_account, {}),
    "transfer_failed_halfway": (transfer_failed_halfway, {"fail_destination": True}),
    "reconciliation": (reconciliation, {}),
    "sweep": (sweep, {}),
}


async def record(
    env: WorkflowEnvironment, out: Path = HISTORIES, only: tuple[str, ...] = ()
) -> list[Path]:
    """Record every scenario, or those named in `only` (a new workflow's, leaving the rest)."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from paysaga.domain.names import SEARCH_ATTRIBUTES

    for name, kind in SEARCH_ATTRIBUTES.items():
        with contextlib.suppress(RPCError):  # already registered
            await env.client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace="default", search_attributes={name: _TYPES[kind]}
                )
            )
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (scenario, options) in SCENARIOS.items():
        if only and name not in only:
            continue
        tq = f"record-{name}-{uuid.uuid4().hex[:6]}"
        world = FakeWorld(authorize_script=options.get("script", ["ok"]))
        shards = FakeShards(fail_destination=options.get("fail_destination", False))
        recon = FakeRecon(items={"stripe": GATEWAY}, ledger=LEDGER)
        acts = world.activities() + FakePlaid().activities() + shards.activities()
        acts += FakeSweep().activities()
        async with worker(env.client, tq, acts + recon.activities()):
            handle = await scenario(env.client, tq)
        history = await handle.fetch_history()
        path = out / f"{name}.json"
        path.write_text(history.to_json())
        written.append(path)
    return written


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server())
    )
    try:
        for path in await record(env, only=tuple(sys.argv[1:])):
            print(path)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
