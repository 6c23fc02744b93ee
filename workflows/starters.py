"""Client-side helpers to start workflows (used by the API, the CLI, tests and benchmarks).

Not imported by workflow code: it talks to the Temporal server.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
    WorkflowHandle,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from paysaga.domain.ledger import TransferRequest, TransferView
from paysaga.domain.names import PAYMENTS_TASK_QUEUE, payment_workflow_id
from paysaga.domain.onboarding import OnboardingRequest, OnboardingView
from paysaga.domain.payments import PaymentRequest, PaymentView
from paysaga.domain.reconciliation import ReconciliationReport, ReconciliationRequest
from paysaga.domain.status import PaymentStatus
from workflows import policies
from workflows.onboarding import OnboardingWorkflow
from workflows.payment import PaymentWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.search import (
    AMOUNT_MINOR,
    CURRENCY,
    CUSTOMER_ID,
    MERCHANT_ID,
    PAYMENT_STATUS,
)
from workflows.transfer import CrossShardTransferWorkflow


async def start_payment(
    client: Client, request: PaymentRequest, *, task_queue: str = PAYMENTS_TASK_QUEUE
) -> WorkflowHandle[PaymentWorkflow, PaymentView]:
    """Start the payment, or return the existing one for the same idempotency key.

    USE_EXISTING attaches to a running workflow; REJECT_DUPLICATE refuses a new run after
    it closed, which we also answer with the existing (closed) payment.
    """
    workflow_id = payment_workflow_id(request.idempotency_key)
    try:
        return await client.start_workflow(
            PaymentWorkflow.run,
            request,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(PAYMENT_STATUS, str(PaymentStatus.PENDING)),
                    SearchAttributePair(AMOUNT_MINOR, request.amount_minor),
                    SearchAttributePair(CURRENCY, request.currency),
                    SearchAttributePair(CUSTOMER_ID, request.customer_id),
                    SearchAttributePair(MERCHANT_ID, request.merchant_id),
                ]
            ),
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle_for(PaymentWorkflow.run, workflow_id)


async def start_onboarding(
    client: Client, request: OnboardingRequest, *, task_queue: str = PAYMENTS_TASK_QUEUE
) -> WorkflowHandle[OnboardingWorkflow, OnboardingView]:
    return await client.start_workflow(
        OnboardingWorkflow.run,
        request,
        id=f"onboarding-{request.onboarding_id}",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def start_transfer(
    client: Client, request: TransferRequest, *, task_queue: str = PAYMENTS_TASK_QUEUE
) -> WorkflowHandle[CrossShardTransferWorkflow, TransferView]:
    return await client.start_workflow(
        CrossShardTransferWorkflow.run,
        request,
        id=f"transfer-{request.transfer_id}",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def run_reconciliation(
    client: Client, request: ReconciliationRequest, *, task_queue: str = PAYMENTS_TASK_QUEUE
) -> ReconciliationReport:
    """On-demand run; the daily one comes from the schedule."""
    report_id = request.report_id or "on-demand"
    return await client.execute_workflow(
        ReconciliationWorkflow.run,
        request,
        id=f"reconciliation-{report_id}",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def ensure_reconciliation_schedule(
    client: Client,
    *,
    task_queue: str = PAYMENTS_TASK_QUEUE,
    every: timedelta = timedelta(days=1),
    schedule_id: str = policies.RECONCILIATION_SCHEDULE_ID,
    request: ReconciliationRequest | None = None,
) -> str:
    """Create the daily reconciliation schedule unless it exists; returns its id."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ReconciliationWorkflow.run,
            request or ReconciliationRequest(),
            id=f"reconciliation-{schedule_id}",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
    )
    with contextlib.suppress(ScheduleAlreadyRunningError):
        await client.create_schedule(schedule_id, schedule)
    return schedule_id
