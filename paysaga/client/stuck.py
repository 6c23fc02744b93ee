"""Find payments that stopped progressing and say why (the engine behind `paysaga stuck`).

A visibility query lists running payment workflows started before the threshold
(nothing younger can have been idle that long); for each, the newest history
event tells when it last progressed, and `describe` tells what it is doing now:
an activity retrying (attempt, last failure, next attempt) or, with no pending
activity, the update/signal its current status waits for.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import quote

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflowservice.v1 import (
    GetWorkflowExecutionHistoryReverseRequest,
    ResetActivityRequest,
)
from temporalio.client import Client, WorkflowExecutionDescription

from paysaga.domain.status import PaymentStatus

# Statuses in which a payment is expected to move on by itself or soon; captured,
# settled and partially refunded payments idle legitimately (waiting for refunds).
IN_FLIGHT: tuple[PaymentStatus, ...] = (
    PaymentStatus.PENDING,
    PaymentStatus.AUTHORIZING,
    PaymentStatus.RETRY_SCHEDULED,
    PaymentStatus.REQUIRES_ACTION,
    PaymentStatus.AWAITING_CAPTURE,
    PaymentStatus.CAPTURING,
    PaymentStatus.PROCESSING,
)

# What a payment in each waiting status is blocked on (statuses without an entry
# are expected to be doing work: a pending activity or a workflow task).
WAITS: dict[str, str] = {
    PaymentStatus.AWAITING_CAPTURE: "the `capture` or `cancel` update",
    PaymentStatus.REQUIRES_ACTION: "the customer's authentication (a gateway webhook signal)",
    PaymentStatus.PROCESSING: "the settlement webhook signal",
    PaymentStatus.RETRY_SCHEDULED: "its dunning timer (the next retry)",
}

PAYMENT_WORKFLOW_TYPE = "PaymentWorkflow"
DESCRIBE_CONCURRENCY = 8


class ReasonKind(StrEnum):
    ACTIVITY_RETRYING = "activity_retrying"
    ACTIVITY_RUNNING = "activity_running"
    WAITING = "waiting"
    WORKFLOW_TASK = "workflow_task"  # no worker is picking up its workflow task
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class StuckReason:
    kind: ReasonKind
    summary: str
    activity_type: str | None = None
    attempt: int | None = None
    last_failure: str | None = None
    next_attempt_at: datetime | None = None
    waiting_for: str | None = None


@dataclass(frozen=True)
class StuckPayment:
    workflow_id: str
    run_id: str
    status: str | None
    gateway: str | None
    amount_minor: int | None
    currency: str | None
    customer_id: str | None
    merchant_id: str | None
    last_progress_at: datetime
    idle_for: timedelta
    reason: StuckReason
    web_ui_url: str | None


def web_ui_link(ui_base: str | None, namespace: str, workflow_id: str) -> str | None:
    if not ui_base:
        return None
    return f"{ui_base.rstrip('/')}/namespaces/{quote(namespace)}/workflows/{quote(workflow_id)}"


def _sa(desc: WorkflowExecutionDescription, name: str) -> object:
    values = desc.search_attributes.get(name)
    return values[0] if values else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _failure_text(message: str, cause: str) -> str:
    return f"{message} ({cause})" if cause and cause != message else message


async def last_progress_at(client: Client, workflow_id: str, run_id: str) -> datetime | None:
    """Time of the newest event in the workflow's history."""
    response = await client.workflow_service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            maximum_page_size=1,
        )
    )
    if not response.history.events:
        return None
    return response.history.events[0].event_time.ToDatetime(tzinfo=UTC)


def diagnose(desc: WorkflowExecutionDescription, status: str | None) -> StuckReason:
    raw = desc.raw_description
    for activity in raw.pending_activities:
        failure = activity.last_failure
        last_failure = (
            _failure_text(failure.message, failure.cause.message if failure.cause else "")
            if failure.message
            else None
        )
        name = activity.activity_type.name
        next_at = (
            activity.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
            if activity.HasField("next_attempt_schedule_time")
            else None
        )
        if activity.attempt > 1 or last_failure:
            summary = f"activity {name} retrying: attempt {activity.attempt}"
            if last_failure:
                summary += f", last failure: {last_failure}"
            return StuckReason(
                ReasonKind.ACTIVITY_RETRYING,
                summary,
                activity_type=name,
                attempt=activity.attempt,
                last_failure=last_failure,
                next_attempt_at=next_at,
            )
        started = activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        summary = f"activity {name} {'running' if started else 'scheduled, not yet picked up'}"
        return StuckReason(
            ReasonKind.ACTIVITY_RUNNING, summary, activity_type=name, attempt=activity.attempt
        )
    if raw.HasField("pending_workflow_task"):
        return StuckReason(
            ReasonKind.WORKFLOW_TASK,
            "workflow task not completed: is a worker polling the payments queue?",
        )
    if status in WAITS:
        waiting_for = WAITS[status]
        return StuckReason(
            ReasonKind.WAITING, f"waiting for {waiting_for}", waiting_for=waiting_for
        )
    return StuckReason(ReasonKind.UNKNOWN, f"no pending work in status {status or 'unknown'}")


def _visibility_query(started_before: datetime, merchant_id: str | None) -> str:
    stamp = started_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    statuses = ", ".join(f"'{status.value}'" for status in IN_FLIGHT)
    query = (
        f"WorkflowType = '{PAYMENT_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' "
        f"AND StartTime < '{stamp}' AND PaymentStatus IN ({statuses})"
    )
    if merchant_id:
        query += f" AND MerchantId = '{merchant_id}'"
    return query


async def find_stuck(
    client: Client,
    *,
    older_than: timedelta,
    ui_base: str | None = None,
    merchant_id: str | None = None,
    now: datetime | None = None,
    limit: int = 500,
) -> list[StuckPayment]:
    """Running payments whose last history event is older than `older_than`, oldest first."""
    now = now or datetime.now(UTC)
    cutoff = now - older_than
    executions = [
        execution
        async for execution in client.list_workflows(
            _visibility_query(cutoff, merchant_id), limit=limit
        )
    ]
    gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

    async def inspect(workflow_id: str, run_id: str) -> StuckPayment | None:
        async with gate:
            handle = client.get_workflow_handle(workflow_id, run_id=run_id)
            desc, progressed = await asyncio.gather(
                handle.describe(), last_progress_at(client, workflow_id, run_id)
            )
        progressed = progressed or desc.start_time
        if progressed > cutoff:
            return None
        status = _str_or_none(_sa(desc, "PaymentStatus"))
        amount = _sa(desc, "AmountMinor")
        return StuckPayment(
            workflow_id=workflow_id,
            run_id=run_id,
            status=status,
            gateway=_str_or_none(_sa(desc, "Gateway")),
            amount_minor=amount if isinstance(amount, int) else None,
            currency=_str_or_none(_sa(desc, "Currency")),
            customer_id=_str_or_none(_sa(desc, "CustomerId")),
            merchant_id=_str_or_none(_sa(desc, "MerchantId")),
            last_progress_at=progressed,
            idle_for=now - progressed,
            reason=diagnose(desc, status),
            web_ui_url=web_ui_link(ui_base, client.namespace, workflow_id),
        )

    found = await asyncio.gather(*(inspect(e.id, e.run_id) for e in executions))
    stuck = [payment for payment in found if payment is not None]
    return sorted(stuck, key=lambda payment: payment.last_progress_at)


async def retry_now(client: Client, payment: StuckPayment) -> str:
    """Retry a stuck payment's activity at once (attempts reset); returns what was done."""
    if payment.reason.activity_type is None:
        return "nothing to retry: it is waiting, not failing"
    await client.workflow_service.reset_activity(
        ResetActivityRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=payment.workflow_id, run_id=payment.run_id),
            identity=f"paysaga-stuck-{uuid.uuid4().hex[:8]}",
            type=payment.reason.activity_type,
        )
    )
    return f"activity {payment.reason.activity_type} rescheduled now"


async def cancel_payment(client: Client, payment: StuckPayment) -> str:
    """Request Temporal cancellation of the run (`paysaga stuck --cancel`); it compensates.

    The payment workflow turns the cancel into its cancel request: an activity in flight
    finishes first (an authorization in flight is waited for, so that it can be voided),
    then what was not captured is undone (the ledger hold voided, the authorization
    voided, or refunded and booked if the gateway captured it) and the payment ends
    `canceled`; money that already moved (a captured charge, a submitted ACH debit, which
    the run keeps tracking until it settles) stays. The run then ends Canceled. Runs
    started before the workflow handled cancellation end at the step they were on,
    uncompensated; the `cancel` update (`paysaga cancel`) compensates those.
    """
    handle = client.get_workflow_handle(payment.workflow_id, run_id=payment.run_id)
    await handle.cancel(reason=f"paysaga stuck --cancel: {payment.reason.summary}")
    return "cancellation requested: the payment undoes what it had not captured"
