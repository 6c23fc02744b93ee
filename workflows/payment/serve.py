"""After the charge: stay open for refunds, webhooks and ACH returns until the refund
window ends (or the run is canceled), continuing as new (with the view and the latest
event ids) when the history grows.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.status import PaymentStatus, is_final
    from workflows import policies

from workflows.payment import ach, cancellation
from workflows.payment.state import PaymentState

# Events remembered for deduplication across continue-as-new (most recent kept).
_SEEN_EVENTS_KEPT = 1000


async def serve(state: PaymentState) -> None:
    deadline = workflow.now() + policies.refund_window(state.request.options)
    while not is_final(state.view.status) and not state.workflow_canceled:
        remaining = deadline - workflow.now()
        if remaining <= timedelta(0):
            break
        try:
            await workflow.wait_condition(
                lambda: (
                    state.ach_return is not None
                    or _continue_as_new_due(state)
                    or is_final(state.view.status)
                    or state.workflow_canceled
                ),
                timeout=remaining,
            )
        except TimeoutError:
            break
        except asyncio.CancelledError as error:
            cancellation.interrupted(state, error)
            continue
        if state.ach_return is not None and state.view.status != PaymentStatus.RETURNED:
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


def _continue_as_new_due(state: PaymentState) -> bool:
    limit = policies.max_events_per_run(state.request.options)
    return state.events_this_run >= limit or workflow.info().is_continue_as_new_suggested()
