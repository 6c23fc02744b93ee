"""Starting workflows: the one way, for PaysagaClient (so the HTTP API, the CLI and the
demo), the benchmarks, the workflow tests and the history recorder (tests/replay).

Client-side code: it talks to the Temporal server and calls the workflows by name
(client.workflow_refs), never importing workflow code.

Workflow ids, and what a second start with the same id does:

- payment `payment-{idempotency_key}` (domain.names.payment_workflow_id), onboarding
  `{onboarding_id}` (client.ids.onboarding_id_for: `onboarding-{merchant}.{key}`),
  transfer `transfer-{transfer_id}`: started at most once. The id is never reused, not
  even after the workflow closed (REJECT_DUPLICATE), and a start while it runs is
  refused (FAIL) rather than silently attached to, so every second start is checked:
  the memo keeps a digest of the request; the same request gets the existing workflow
  back (`Started.created` False), a different one raises IdempotencyConflict.
- reconciliation `{report_id}` (the client's: `reconciliation-{day}`), or
  `reconciliation-on-demand` without one: a start while it runs attaches to the running
  one (USE_EXISTING); once closed, the same report may be run again (ALLOW_DUPLICATE).

Temporal not answering raises ServiceUnavailable. A request any string of which holds a
card number is refused before anything is sent (domain.pan.CardNumberNotAccepted).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from datetime import timedelta
from typing import Any, Final, Generic, NamedTuple, TypeVar

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
from temporalio.service import RPCError

from paysaga.client import workflow_refs as wf
from paysaga.client.control.idempotency import body_hash
from paysaga.client.errors import IdempotencyConflict
from paysaga.client.ids import merchant_of_onboarding
from paysaga.client.temporal_errors import unavailable
from paysaga.domain.ledger import TransferRequest, TransferView
from paysaga.domain.names import (
    AMOUNT_MINOR,
    CURRENCY,
    CUSTOMER_ID,
    MERCHANT_ID,
    PAYMENT_STATUS,
    PAYMENTS_TASK_QUEUE,
    payment_workflow_id,
)
from paysaga.domain.onboarding import OnboardingRequest, OnboardingView
from paysaga.domain.pan import refuse_card_numbers
from paysaga.domain.payments import PaymentRequest, PaymentView
from paysaga.domain.reconciliation import ReconciliationReport, ReconciliationRequest
from paysaga.domain.status import PaymentStatus
from paysaga.domain.sweep import (
    ON_DEMAND_SWEEP_ID,
    SWEEP_SCHEDULE_ID,
    SWEEP_WORKFLOW,
    SweepReport,
    SweepRequest,
)

R = TypeVar("R")

REQUEST_HASH_MEMO: Final = "request_hash"
ON_DEMAND_RECONCILIATION_ID: Final = "reconciliation-on-demand"
RECONCILIATION_SCHEDULE_ID: Final = "paysaga-reconciliation-daily"


class Started(NamedTuple, Generic[R]):
    """A start's outcome: the workflow's handle, and whether this call started it."""

    handle: WorkflowHandle[Any, R]
    # False: the id was taken already (for a payment, onboarding or transfer: by the
    # same request). Temporal does not say when a reconciliation start attaches to a
    # running one, so that stays True.
    created: bool


def request_digest(request: object) -> str:
    """Hash of a request dataclass, to tell a replay from a conflicting reuse of a key.

    The same as hashing `dataclasses.asdict(request)`, except that fields marked
    `ADDED_LATER` (paysaga.domain.payments) are left out while at their default: a start
    that does not use them hashes as before they existed, so a key first used before an
    upgrade still replays after it.
    """
    return body_hash(_digest_view(request))


def _digest_view(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        view: dict[str, Any] = {}
        for f in fields(value):
            item = getattr(value, f.name)
            if f.metadata.get("omit_default_from_digest") and item == f.default:
                continue
            view[f.name] = _digest_view(item)
        return view
    if isinstance(value, list | tuple):
        return [_digest_view(item) for item in value]
    if isinstance(value, dict):
        return {key: _digest_view(item) for key, item in value.items()}
    return value


async def start_payment(
    temporal: Client,
    request: PaymentRequest,
    *,
    task_queue: str = PAYMENTS_TASK_QUEUE,
    eager_start: bool = False,
) -> Started[PaymentView]:
    """Start the payment once; its search attributes are set from the start (pending)."""
    return await _start_once(
        temporal,
        wf.PAYMENT_WORKFLOW,
        request,
        workflow_id=payment_workflow_id(request.idempotency_key),
        task_queue=task_queue,
        result_type=PaymentView,
        search_attributes=[
            SearchAttributePair(PAYMENT_STATUS, PaymentStatus.PENDING.value),
            SearchAttributePair(MERCHANT_ID, request.merchant_id),
            SearchAttributePair(CUSTOMER_ID, request.customer_id),
            SearchAttributePair(CURRENCY, request.currency),
            SearchAttributePair(AMOUNT_MINOR, request.amount_minor),
        ],
        eager_start=eager_start,
    )


async def start_onboarding(
    temporal: Client,
    request: OnboardingRequest,
    *,
    task_queue: str = PAYMENTS_TASK_QUEUE,
    eager_start: bool = False,
) -> Started[OnboardingView]:
    """Start the onboarding once, under its onboarding id; `MerchantId` is set when the
    id is a merchant's (client.ids.onboarding_id_for)."""
    merchant_id = merchant_of_onboarding(request.onboarding_id)
    search_attributes = [SearchAttributePair(CUSTOMER_ID, request.customer_id)]
    if merchant_id is not None:
        search_attributes.insert(0, SearchAttributePair(MERCHANT_ID, merchant_id))
    return await _start_once(
        temporal,
        wf.ONBOARDING_WORKFLOW,
        request,
        workflow_id=request.onboarding_id,
        task_queue=task_queue,
        result_type=OnboardingView,
        search_attributes=search_attributes,
        eager_start=eager_start,
    )


async def start_transfer(
    temporal: Client, request: TransferRequest, *, task_queue: str = PAYMENTS_TASK_QUEUE
) -> Started[TransferView]:
    return await _start_once(
        temporal,
        wf.TRANSFER_WORKFLOW,
        request,
        workflow_id=f"transfer-{request.transfer_id}",
        task_queue=task_queue,
        result_type=TransferView,
    )


async def start_reconciliation(
    temporal: Client, request: ReconciliationRequest, *, task_queue: str = PAYMENTS_TASK_QUEUE
) -> Started[ReconciliationReport]:
    """Start (or attach to) the reconciliation run of `request.report_id`."""
    workflow_id = request.report_id or ON_DEMAND_RECONCILIATION_ID
    try:
        handle = await temporal.start_workflow(
            wf.RECONCILIATION_WORKFLOW,
            request,
            id=workflow_id,
            task_queue=task_queue,
            result_type=ReconciliationReport,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        existing = temporal.get_workflow_handle(workflow_id, result_type=ReconciliationReport)
        return Started(existing, created=False)
    except RPCError as exc:
        raise unavailable(exc) from exc
    return Started(handle, created=True)


async def run_reconciliation(
    temporal: Client, request: ReconciliationRequest, *, task_queue: str = PAYMENTS_TASK_QUEUE
) -> ReconciliationReport:
    """On-demand run, to its report; the daily one comes from the schedule."""
    started = await start_reconciliation(temporal, request, task_queue=task_queue)
    report: ReconciliationReport = await started.handle.result()
    return report


async def ensure_reconciliation_schedule(
    temporal: Client,
    *,
    task_queue: str = PAYMENTS_TASK_QUEUE,
    every: timedelta = timedelta(days=1),
    schedule_id: str = RECONCILIATION_SCHEDULE_ID,
    request: ReconciliationRequest | None = None,
) -> str:
    """Create the daily reconciliation schedule unless it exists; returns its id."""
    action = ScheduleActionStartWorkflow(
        wf.RECONCILIATION_WORKFLOW,
        request or ReconciliationRequest(),
        id=f"reconciliation-{schedule_id}",
        task_queue=task_queue,
    )
    return await _ensure_schedule(temporal, schedule_id, action, every)


async def _ensure_schedule(
    temporal: Client, schedule_id: str, action: ScheduleActionStartWorkflow, every: timedelta
) -> str:
    """Create the schedule unless one with this id exists (its settings are left alone)."""
    schedule = Schedule(
        action=action, spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)])
    )
    with contextlib.suppress(ScheduleAlreadyRunningError):
        await temporal.create_schedule(schedule_id, schedule)
    return schedule_id


async def run_sweep(
    temporal: Client, request: SweepRequest, *, task_queue: str = PAYMENTS_TASK_QUEUE
) -> SweepReport:
    """One sweep now, to its report (attaches to an on-demand sweep already running)."""
    try:
        handle = await temporal.start_workflow(
            SWEEP_WORKFLOW,
            request,
            id=request.sweep_id or ON_DEMAND_SWEEP_ID,
            task_queue=task_queue,
            result_type=SweepReport,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
    except RPCError as exc:
        raise unavailable(exc) from exc
    report: SweepReport = await handle.result()
    return report


async def ensure_sweep_schedule(
    temporal: Client,
    *,
    task_queue: str = PAYMENTS_TASK_QUEUE,
    every: timedelta = timedelta(hours=1),
    schedule_id: str = SWEEP_SCHEDULE_ID,
    request: SweepRequest | None = None,
) -> str:
    """Create the hourly sweep schedule unless it exists; returns its id."""
    action = ScheduleActionStartWorkflow(
        SWEEP_WORKFLOW, request or SweepRequest(), id=f"sweep-{schedule_id}", task_queue=task_queue
    )
    return await _ensure_schedule(temporal, schedule_id, action, every)


async def ensure_schedules(temporal: Client) -> list[str]:
    """The engine's standing schedules (daily reconciliation, hourly sweep)."""
    return [
        await ensure_reconciliation_schedule(temporal),
        await ensure_sweep_schedule(temporal),
    ]


async def _start_once(
    temporal: Client,
    workflow: str,
    request: object,
    *,
    workflow_id: str,
    task_queue: str,
    result_type: type[R],
    search_attributes: Sequence[SearchAttributePair[Any]] = (),
    eager_start: bool = False,
) -> Started[R]:
    # Whoever starts (client, bench, tests): no card number in a workflow id, a search
    # attribute or an input. CardNumberNotAccepted names the field.
    refuse_card_numbers(request)
    digest = request_digest(request)
    try:
        handle = await temporal.start_workflow(
            workflow,
            request,
            id=workflow_id,
            task_queue=task_queue,
            result_type=result_type,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            request_eager_start=eager_start,
            memo={REQUEST_HASH_MEMO: digest},
            search_attributes=TypedSearchAttributes(list(search_attributes)),
        )
    except WorkflowAlreadyStartedError:
        await _check_same_request(temporal, workflow_id, digest)
        existing = temporal.get_workflow_handle(workflow_id, result_type=result_type)
        return Started(existing, created=False)
    except RPCError as exc:
        raise unavailable(exc) from exc
    return Started(handle, created=True)


async def _check_same_request(temporal: Client, workflow_id: str, digest: str) -> None:
    try:
        desc = await temporal.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        raise unavailable(exc) from exc
    stored = await desc.memo_value(REQUEST_HASH_MEMO, default=None)
    if stored != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different request",
            field="Idempotency-Key",
        )
