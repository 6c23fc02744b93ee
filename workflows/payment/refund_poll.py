"""A pending refund is never forgotten: while one is pending, the serve loop reads each
pending refund at the gateway by its own id on a timer and reports what it finds, as
its webhook would (refunds.report). A lost webhook (or one for a run that ended) then
delays the outcome by at most the poll interval, never loses it.

Polls start REFUND_STATUS_POLL_FIRST after a refund is seen pending and double up to
REFUND_STATUS_POLL_MAX (patch refund-status-polled; runs before it waited for the
webhook only).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.gateways import GatewayRefundStatusInput
    from workflows import calls, policies
    from workflows.failures import classify

from workflows.payment import refunds
from workflows.payment.state import PaymentState

_POLL_PATCH = "refund-status-polled"


class RefundPoll:
    """When the next poll is due, and the interval that led there (per run).

    Built when serving begins: the patch is decided there, once, so that a run from
    before it never wakes for a poll (its recorded timers stay as they were).
    """

    def __init__(self) -> None:
        self.enabled = workflow.patched(_POLL_PATCH)
        self.due_at: datetime | None = None
        self.interval = policies.REFUND_STATUS_POLL_FIRST

    def unscheduled(self, state: PaymentState) -> bool:
        """A refund is pending and no poll is set for it: serve must schedule one."""
        return self.enabled and self.due_at is None and refunds.pending(state)

    def due_in(self, state: PaymentState) -> timedelta | None:
        """How long until the next poll; None while no refund is pending."""
        if not self.enabled or not refunds.pending(state):
            self.due_at, self.interval = None, policies.REFUND_STATUS_POLL_FIRST
            return None
        if self.due_at is None:
            self.due_at = workflow.now() + self.interval
        return max(self.due_at - workflow.now(), timedelta(0))

    def is_due(self) -> bool:
        return self.due_at is not None and self.due_at <= workflow.now()

    async def poll(self, state: PaymentState) -> None:
        """Read every pending refund by id; report the ones that are no longer pending."""
        view = state.view
        assert view.gateway is not None
        for record in [r for r in view.refunds if r.status == refunds.PENDING]:
            request = GatewayRefundStatusInput(view.gateway, record.reference)
            try:
                found = await calls.refund_status(state.routing, request)
            except ActivityError as exc:  # asked again at the next poll
                state.step("refund_status_unknown", f"{record.reference} {classify(exc).reason()}")
                continue
            status = refunds.status_of(found.status)
            if status != refunds.PENDING:
                state.step("refund_status_polled", f"{record.reference} {status}")
                refunds.report(state, record.reference, failed=status == refunds.FAILED)
        self.interval = min(self.interval * 2, policies.REFUND_STATUS_POLL_MAX)
        self.due_at = workflow.now() + self.interval
