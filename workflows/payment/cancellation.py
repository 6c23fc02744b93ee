"""Cancelling a payment: the `cancel` update and Temporal cancellation of the run.

Temporal cancellation (`paysaga stuck --cancel`, `temporal workflow cancel`) raises
CancelledError in the run's own task only. The rest of the run (charge, serve) goes in a
task of its own, shielded from it, and the cancel becomes the payment's cancel request,
which the saga's waits already honour: an activity in flight finishes first (an
authorization in flight must be known before it can be voided), then the compensations
run as for any failure (void the hold, void or refund the authorization). A payment
whose money already moved (captured, or an ACH debit submitted) keeps it; after the
charge a cancel ends the run once the update handlers are done. The run then ends
Canceled; the `status` query and the PaymentStatus search attribute tell what happened.

An accepted `cancel` update always wins over a timer that fires in the same activation:
every dunning attempt and every resolved authorization checks the cancel request first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.payments import CancelRequest
    from paysaga.domain.status import PaymentStatus, is_final, rank
    from workflows.failures import PaymentFailure

from workflows.payment.state import PaymentState

T = TypeVar("T")

# Runs from this patch on compensate a Temporal cancellation (older runs ended Canceled
# at whatever step they were on).
_WORKFLOW_CANCEL_PATCH = "compensate-on-workflow-cancel"
# An accepted cancel is honoured even when the dunning timer fired in the same activation.
_CANCEL_WINS_PATCH = "accepted-cancel-wins-over-timer"
# The cancel update's handler completes (refused) if the payment moved past cancelling.
_CANCEL_HANDLER_PATCH = "cancel-update-always-completes"

_PAST_CANCEL = rank(PaymentStatus.PROCESSING)  # money moved: a cancel no longer applies
WORKFLOW_CANCEL_ID = "workflow-cancel"  # request_id of the cancel request a Temporal cancel makes


def handles_workflow_cancel() -> bool:
    return workflow.patched(_WORKFLOW_CANCEL_PATCH)


async def run_shielded(state: PaymentState, work: Coroutine[Any, Any, T]) -> T:
    """Run `work` to its end whatever Temporal cancellation arrives meanwhile.

    A cancel only turns into the payment's cancel request; `work` decides what it undoes.
    """
    task = asyncio.create_task(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done() or workflow.cancellation_reason() is None:
                raise  # the work is over (or this is not a Temporal cancellation)
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # the cancel is handled: later awaits must not see it
            _request_cancel(state)


def _request_cancel(state: PaymentState) -> None:
    if state.workflow_canceled:
        return
    reason = workflow.cancellation_reason() or "workflow cancellation requested"
    state.workflow_canceled = True
    state.step("workflow_cancel_requested", reason)
    if state.cancel_request is None:
        state.cancel_request = CancelRequest(request_id=WORKFLOW_CANCEL_ID, reason=reason)


def interrupted(state: PaymentState, error: asyncio.CancelledError) -> None:
    """Take a CancelledError raised in the shielded work as the Temporal cancel it reports.

    sdk-python, processing an activation's jobs as one batch, raises CancelledError in
    every task's `wait_condition` that was pending when the cancel arrived. Re-raises
    what is not that (or a run from before the patch, which ended there).
    """
    if workflow.cancellation_reason() is None or not handles_workflow_cancel():
        raise error
    _request_cancel(state)


def as_failure(
    state: PaymentState, error: PaymentFailure | asyncio.CancelledError
) -> PaymentFailure | None:
    """What ends the charge: its failure, or a Temporal cancel that interrupted a wait
    (None when that wait was an ACH debit's settlement, which must go on)."""
    if isinstance(error, PaymentFailure):
        return error
    interrupted(state, error)
    if state.view.status == PaymentStatus.PROCESSING:
        return None
    if state.view.reference is None and state.webhook_payment is not None:
        state.update(reference=state.webhook_payment.reference)  # what to void
    return PaymentFailure(state.cancel_reason(), status=PaymentStatus.CANCELED)


async def wait_through_cancel(state: PaymentState, condition: Callable[[], bool]) -> None:
    """`workflow.wait_condition`, waiting on when a Temporal cancel interrupts it."""
    while True:
        try:
            await workflow.wait_condition(condition)
            return
        except asyncio.CancelledError as error:
            interrupted(state, error)  # a wait begun after the cancel is not interrupted


def raise_if_canceled(state: PaymentState) -> None:
    """An accepted cancel ends the charge here (before an attempt, after an authorization)."""
    if state.cancel_request is not None and workflow.patched(_CANCEL_WINS_PATCH):
        raise PaymentFailure(state.cancel_reason(), status=PaymentStatus.CANCELED)


async def await_cancel_outcome(state: PaymentState) -> None:
    """The cancel update's wait: until the payment is final, or refuse if it moved on.

    The charge honours an accepted cancel at its next step, so the refusal is a safety
    net: a handler left waiting would block continue-as-new and completion for ever.
    """
    if not workflow.patched(_CANCEL_HANDLER_PATCH):
        await workflow.wait_condition(lambda: is_final(state.view.status))
        return
    await wait_through_cancel(
        state, lambda: is_final(state.view.status) or rank(state.view.status) >= _PAST_CANCEL
    )
    if not is_final(state.view.status):
        raise ApplicationError(
            f"cannot cancel: the payment is {state.view.status}",
            type="too_late",
            non_retryable=True,
        )
