"""PaymentState: what a run of PaymentWorkflow knows, shared by its step modules.

The view (answered by the `status` query, carried across continue-as-new) and the flags
that signals and updates set for the waiting steps. Every view change goes through
`update` / `set_status` / `step`, which upsert the search attributes that changed.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.errors import PaysagaError
    from paysaga.domain.events import GatewayEvent
    from paysaga.domain.names import GATEWAY, LAST_ERROR, PAYMENT_STATUS
    from paysaga.domain.pan import mask_optional, mask_pans
    from paysaga.domain.payments import (
        CancelRequest,
        CaptureRequest,
        PaymentRequest,
        PaymentView,
        StepRecord,
    )
    from paysaga.domain.refunds import RefundOutcome
    from paysaga.domain.routing import Routing
    from paysaga.domain.status import PaymentStatus
    from workflows.search import SearchAttributes


class PaymentState:
    def __init__(self, request: PaymentRequest) -> None:
        # Built in the workflow's __init__ so signals and updates delivered with the
        # start see a state.
        self.request = request
        self.payment_id = workflow.info().workflow_id
        self.search = SearchAttributes()
        self.lock = asyncio.Lock()  # one update (refund / return) touches money at a time
        self.seen: dict[str, None] = {}  # ordered set of event ids
        self.events_this_run = 0
        self.webhook_payment: GatewayEvent | None = None
        # When the current authorization attempt began, and when a send of it last failed
        # without an answer (payment.verdict: its lookups, and from when the lag counts).
        self.attempt_started_at: datetime | None = None
        self.attempt_failed_at: datetime | None = None
        # The gateway's search lag bound, as its failure reported it (None: the default).
        self.attempt_search_lag: timedelta | None = None
        self.capture_request: CaptureRequest | None = None
        self.capture_error: str | None = None
        self.cancel_request: CancelRequest | None = None
        self.external_cancel = False
        self.workflow_canceled = False  # Temporal cancellation of the run was requested
        self.ach_settled = False
        self.ach_return: GatewayEvent | None = None
        self.reserved_minor = 0  # refunds accepted but not yet applied
        self.refund_outcomes: dict[str, RefundOutcome] = {}
        self.refunds_in_flight: set[str] = set()
        # Refund reports (refund reference -> failed?) that arrived before their refund
        # was recorded, and booked refunds the gateway reported failed, to un-book.
        self.refund_reports: dict[str, bool] = {}
        self.refunds_to_unbook: dict[str, None] = {}
        self.view = self._initial_view(request, request.carried)

    def _initial_view(self, request: PaymentRequest, resume: PaymentView | None) -> PaymentView:
        if resume is None:
            return PaymentView.pending(self.payment_id, request)
        self.seen = dict.fromkeys(resume.events_seen)
        for record in resume.refunds:
            self.refund_outcomes[record.request_id] = RefundOutcome(
                record.request_id,
                record.reference,
                record.amount_minor,
                resume.currency,
                record.status,
                resume.refunded_minor,
            )
        return replace(resume, runs=resume.runs + 1)

    @property
    def routing(self) -> Routing:
        return self.request.routing

    def snapshot(self) -> PaymentView:
        """The view as the `status` query answers it: with every event id seen."""
        return replace(self.view, events_seen=tuple(self.seen))

    def update(self, **changes: object) -> None:
        if isinstance(changes.get("last_error"), str):
            # What the status query answers and LastError shows: never a card number.
            changes["last_error"] = mask_optional(changes["last_error"])  # type: ignore[arg-type]
        self.view = replace(self.view, **changes)  # type: ignore[arg-type]
        self.publish()

    def step(self, name: str, detail: str = "") -> None:
        record = StepRecord(name=name, at=workflow.now(), detail=mask_pans(detail))
        self.view = replace(self.view, steps=(*self.view.steps, record))

    def set_status(self, status: PaymentStatus, **changes: object) -> None:
        self.update(status=status, **changes)
        self.step(f"status:{status}")

    def publish(self) -> None:
        view = self.view
        self.search.upsert(
            {
                PAYMENT_STATUS: str(view.status),
                GATEWAY: view.gateway,
                LAST_ERROR: view.last_error,
            }
        )

    def cancel_reason(self) -> str:
        if self.cancel_request is not None:
            return f"canceled: {self.cancel_request.reason}"
        return "canceled at the gateway"


def rejected(exc: PaysagaError) -> ApplicationError:
    """An update refused by the domain's checks, with the domain's error code."""
    return ApplicationError(exc.message, type=exc.code, non_retryable=True)
