"""After the charge: stay open for refunds, webhooks and ACH returns until the refund
window ends (or the run is canceled), continuing as new (with the view and the latest
event ids) when the history grows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.status import PaymentStatus, is_final
    from workflows import policies

from workflows.payment import ach, cancellation, refunds
from workflows.payment.refund_poll import RefundPoll
from workflows.payment.state import PaymentState

# Events remembered for deduplication across continue-as-new (most recent kept).
_SEEN_EVENTS_KEPT = 1000
_WINDOW_CARRIED_PATCH = "refund-window-carried"
# Runs from this patch on keep an ACH debit open for at least its return window (R10: 60
# days), however short the refund window: a late return then signals the open run (with
# continue-as-new as the history grows) instead of finding the workflow closed.
_ACH_RETURN_WINDOW_PATCH = "ach-open-through-return-window"


async def serve(state: PaymentState) -> None:
    deadline = _window_end(state)
    poll = RefundPoll()
    while not is_final(state.view.status) and not state.workflow_canceled:
        left = deadline - workflow.now()
        past_window = left <= timedelta(0)
        if past_window and not refunds.keeps_open(state):
            break
        # Past the window: open until the pending refund's outcome is reported.
        remaining = None if past_window else left
        poll_in = poll.due_in(state)
        timeout = min((t for t in (remaining, poll_in) if t is not None), default=None)
        try:
            await workflow.wait_condition(_woken(state, past_window, poll), timeout=timeout)
        except TimeoutError:
            if poll.is_due():  # a pending refund's webhook may be lost: read it by id
                await poll.poll(state)
            continue  # the window ended or a poll was made: the checks above decide
        except asyncio.CancelledError as error:
            cancellation.interrupted(state, error)
            continue
        if refunds.unbook_due(state):
            await refunds.unbook_failed(state)
        elif state.ach_return is not None and state.view.status != PaymentStatus.RETURNED:
            await ach.apply_pending_return(state)
        elif _continue_as_new_due(state):
            await cancellation.wait_through_cancel(state, workflow.all_handlers_finished)
            if state.workflow_canceled:
                break  # a new run would not know of the cancellation
            state.step("continue_as_new", f"after {state.events_this_run} events")
            view = replace(
                state.view,
                events_seen=tuple(state.seen)[-_SEEN_EVENTS_KEPT:],
                steps=state.view.steps[-50:],
            )
            workflow.continue_as_new(replace(state.request, carried=view))


def _woken(state: PaymentState, past_window: bool, poll: RefundPoll) -> Callable[[], bool]:
    return lambda: (
        state.ach_return is not None
        or poll.unscheduled(state)  # a refund became pending: its poll is to be set
        or _continue_as_new_due(state)
        or is_final(state.view.status)
        or refunds.unbook_due(state)
        or (past_window and not refunds.pending(state))
        or state.workflow_canceled
    )


def _window_end(state: PaymentState) -> datetime:
    window = policies.refund_window(state.request.options)
    if not workflow.patched(_WINDOW_CARRIED_PATCH):
        return workflow.now() + window  # restarted at every continue-as-new
    if state.view.refund_window_ends_at is None:
        if state.request.method_type == "ach" and workflow.patched(_ACH_RETURN_WINDOW_PATCH):
            window = max(window, policies.ACH_RETURN_WINDOW)
        state.update(refund_window_ends_at=workflow.now() + window)
    assert state.view.refund_window_ends_at is not None
    return state.view.refund_window_ends_at


def _continue_as_new_due(state: PaymentState) -> bool:
    limit = policies.max_events_per_run(state.request.options)
    return state.events_this_run >= limit or workflow.info().is_continue_as_new_suggested()
