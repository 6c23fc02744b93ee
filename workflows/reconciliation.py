"""ReconciliationWorkflow: compare what each gateway settled with our ledger.

Run daily by a Temporal Schedule (paysaga.client.starts.ensure_reconciliation_schedule) or on
demand. Per gateway: pull settled transactions, match them to ledger entries by gateway
reference and amount (ledger-side activity), post settlement/fee entries for matches,
then store one report and tell the affected PaymentWorkflows.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.events import EventKind, GatewayEvent
    from paysaga.domain.names import LAST_ERROR, PAYMENT_STATUS
    from paysaga.domain.reconciliation import (
        ListSettledInput,
        MatchedItem,
        MatchInput,
        PostSettlementInput,
        ReconciliationReport,
        ReconciliationRequest,
        ReconException,
    )
    from paysaga.domain.status import ReconciliationStatus
    from workflows import calls
    from workflows.failures import classify
    from workflows.search import SearchAttributes

_SIGNAL_BATCH = 50


def default_period(now: datetime) -> tuple[datetime, datetime]:
    """The previous whole UTC day."""
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=1), end


@workflow.defn(name="ReconciliationWorkflow")
class ReconciliationWorkflow:
    def __init__(self) -> None:
        self._search = SearchAttributes()
        self._status = ReconciliationStatus.RUNNING
        self._done: list[str] = []
        self._report: ReconciliationReport | None = None
        self._last_error: str | None = None

    def _publish(self) -> None:
        self._search.upsert({PAYMENT_STATUS: str(self._status), LAST_ERROR: self._last_error})

    @workflow.run
    async def run(self, request: ReconciliationRequest) -> ReconciliationReport:
        self._publish()
        start, end = default_period(workflow.now())
        start = request.period_start or start
        end = request.period_end or end
        report_id = request.report_id or f"{start:%Y%m%dT%H%M%S}-{end:%Y%m%dT%H%M%S}"
        matched: list[MatchedItem] = []
        exceptions: list[ReconException] = []
        fees: dict[str, int] = {}
        posted = 0
        try:
            for gateway in request.gateways:
                batch = await calls.list_settled(
                    request.routing, ListSettledInput(gateway, start, end)
                )
                result = await calls.recon_match(
                    request.routing, MatchInput(report_id, gateway, start, end, batch.items)
                )
                settlement = await calls.recon_post(
                    request.routing, PostSettlementInput(report_id, gateway, result.matched)
                )
                matched.extend(result.matched)
                exceptions.extend(result.exceptions)
                posted += settlement.posted
                for currency, amount in settlement.fees_minor.items():
                    fees[currency] = fees.get(currency, 0) + amount
                self._done.append(gateway)
        except ActivityError as exc:
            self._status = ReconciliationStatus.FAILED
            self._last_error = classify(exc).reason()
            self._publish()
            raise
        report = ReconciliationReport(
            report_id=report_id,
            period_start=start,
            period_end=end,
            gateways=request.gateways,
            status=ReconciliationStatus.COMPLETED,
            matched_count=len(matched),
            exceptions=tuple(exceptions),
            settlements_posted=posted,
            fees_minor=fees,
        )
        await calls.recon_store(request.routing, report)
        signaled = (
            await self._signal_payments(report_id, matched, exceptions)
            if (request.signal_payments)
            else 0
        )
        self._report = ReconciliationReport(**{**report.__dict__, "payments_signaled": signaled})
        self._status = ReconciliationStatus.COMPLETED
        self._last_error = f"{len(exceptions)} exceptions" if exceptions else None
        self._publish()
        return self._report

    async def _signal_payments(
        self, report_id: str, matched: list[MatchedItem], exceptions: list[ReconException]
    ) -> int:
        now = workflow.now()
        events: dict[str, GatewayEvent] = {}
        for item in matched:
            if item.item.kind != "charge":
                continue
            events[item.payment_id] = GatewayEvent(
                event_id=f"recon-{report_id}-{item.payment_id}",
                gateway=item.item.gateway,
                kind=EventKind.SETTLEMENT_MATCHED,
                occurred_at=now,
                reference=item.item.reference,
                payment_id=item.payment_id,
                amount_minor=item.item.amount_minor,
            )
        for exc in exceptions:
            if exc.payment_id:
                events[exc.payment_id] = GatewayEvent(
                    event_id=f"recon-{report_id}-{exc.payment_id}",
                    gateway=exc.gateway,
                    kind=EventKind.SETTLEMENT_EXCEPTION,
                    occurred_at=now,
                    reference=exc.reference,
                    payment_id=exc.payment_id,
                    data={"kind": str(exc.kind), "report_id": report_id},
                )
        ordered = sorted(events.items())
        signaled = 0
        for i in range(0, len(ordered), _SIGNAL_BATCH):
            batch = ordered[i : i + _SIGNAL_BATCH]
            results = await asyncio.gather(
                *(
                    workflow.get_external_workflow_handle(pid).signal("gateway_event", event)
                    for pid, event in batch
                ),
                return_exceptions=True,
            )
            # A payment whose workflow already closed cannot be told; that is fine.
            signaled += sum(1 for r in results if not isinstance(r, BaseException))
        return signaled

    @workflow.query
    def status(self) -> dict[str, object]:
        return {
            "status": str(self._status),
            "gateways_done": list(self._done),
            "last_error": self._last_error,
            "report_id": self._report.report_id if self._report else None,
        }
