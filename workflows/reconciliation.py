"""ReconciliationWorkflow: compare what each gateway settled with our ledger.

Run daily by a Temporal Schedule (paysaga.client.starts.ensure_reconciliation_schedule) or on
demand. Per gateway: pull settled transactions, match them to ledger entries by gateway
reference and amount (ledger-side activity), post settlement/fee entries for matches,
then store one report and tell the affected PaymentWorkflows.

Each gateway reconciles on its own (concurrently): one whose activities fail for good is
reported as a GATEWAY_FAILED exception with the reason, the report is stored with what
the others found, and the failed gateway is tried again a few rounds later
(policies.RECON_GATEWAY_RETRY_*). Histories from before that (patch
recon-per-gateway) replay the old path, where one failing gateway failed the run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.events import EventKind, GatewayEvent
    from paysaga.domain.names import LAST_ERROR, PAYMENT_STATUS
    from paysaga.domain.reconciliation import (
        ExceptionKind,
        ListSettledInput,
        MatchedItem,
        MatchInput,
        MatchResult,
        PostSettlementInput,
        PostSettlementResult,
        ReconciliationReport,
        ReconciliationRequest,
        ReconException,
    )
    from paysaga.domain.status import ReconciliationStatus
    from workflows import calls, policies
    from workflows.failures import classify
    from workflows.search import SearchAttributes

_SIGNAL_BATCH = 50
_PER_GATEWAY_PATCH = "recon-per-gateway"


@dataclass(frozen=True)
class _Period:
    report_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class _Reconciled:
    """One gateway's results."""

    match: MatchResult
    settlement: PostSettlementResult


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
        period = _Period(report_id, start, end)
        failed: dict[str, str] = {}
        if workflow.patched(_PER_GATEWAY_PATCH):
            done = await self._each_gateway(request, period, failed)
        else:
            done = await self._all_or_nothing(request, period)
        # FAILED only when nothing could be reconciled; otherwise failures are exceptions.
        all_failed = bool(failed) and not done
        status = ReconciliationStatus.FAILED if all_failed else ReconciliationStatus.COMPLETED
        report = _report(request, period, done, failed, status)
        await calls.recon_store(request.routing, report)
        matched = [m for r in done.values() for m in r.match.matched]
        exceptions = list(report.exceptions)
        signaled = (
            await self._signal_payments(report_id, matched, exceptions)
            if (request.signal_payments)
            else 0
        )
        self._report = ReconciliationReport(**{**report.__dict__, "payments_signaled": signaled})
        self._status = status
        self._last_error = f"{len(exceptions)} exceptions" if exceptions else None
        self._publish()
        return self._report

    async def _reconcile(
        self, request: ReconciliationRequest, period: _Period, gateway: str
    ) -> _Reconciled:
        batch = await calls.list_settled(
            request.routing, ListSettledInput(gateway, period.start, period.end)
        )
        result = await calls.recon_match(
            request.routing,
            MatchInput(period.report_id, gateway, period.start, period.end, batch.items),
        )
        settlement = await calls.recon_post(
            request.routing, PostSettlementInput(period.report_id, gateway, result.matched)
        )
        return _Reconciled(result, settlement)

    async def _all_or_nothing(
        self, request: ReconciliationRequest, period: _Period
    ) -> dict[str, _Reconciled]:
        """The path before recon-per-gateway: gateways in turn, the first failure fails all."""
        done: dict[str, _Reconciled] = {}
        try:
            for gateway in request.gateways:
                done[gateway] = await self._reconcile(request, period, gateway)
                self._done.append(gateway)
        except ActivityError as exc:
            self._status = ReconciliationStatus.FAILED
            self._last_error = classify(exc).reason()
            self._publish()
            raise
        return done

    async def _each_gateway(
        self, request: ReconciliationRequest, period: _Period, failed: dict[str, str]
    ) -> dict[str, _Reconciled]:
        """Every gateway on its own; `failed` is left with those that never succeeded."""
        done: dict[str, _Reconciled] = {}
        for round_no in range(1 + policies.RECON_GATEWAY_RETRY_ROUNDS):
            if round_no:
                # Store what is known (the others' results, each failure's reason) first.
                interim = _report(request, period, done, failed, ReconciliationStatus.RUNNING)
                await calls.recon_store(request.routing, interim)
                await workflow.sleep(policies.RECON_GATEWAY_RETRY_DELAY)
            todo = [g for g in request.gateways if g not in done]
            outcomes = await asyncio.gather(*(self._try(request, period, g) for g in todo))
            for gateway, outcome in zip(todo, outcomes, strict=True):
                if isinstance(outcome, str):
                    failed[gateway] = outcome
                    continue
                done[gateway] = outcome
                failed.pop(gateway, None)
                self._done.append(gateway)
            self._last_error = "; ".join(f"{g}: {why}" for g, why in failed.items()) or None
            self._publish()
            if not failed:
                break
        return done

    async def _try(
        self, request: ReconciliationRequest, period: _Period, gateway: str
    ) -> _Reconciled | str:
        """The gateway's results, or why it failed."""
        try:
            return await self._reconcile(request, period, gateway)
        except ActivityError as exc:
            reason = classify(exc).reason()
            workflow.logger.warning("reconciliation of %s failed: %s", gateway, reason)
            return reason

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


def _report(
    request: ReconciliationRequest,
    period: _Period,
    done: dict[str, _Reconciled],
    failed: dict[str, str],
    status: ReconciliationStatus,
) -> ReconciliationReport:
    """The report over the gateways reconciled so far, in the requested order."""
    exceptions: list[ReconException] = []
    fees: dict[str, int] = {}
    matched = posted = 0
    for gateway in request.gateways:
        if gateway in failed:
            exceptions.append(
                ReconException(
                    ExceptionKind.GATEWAY_FAILED, gateway, "", None, "", detail=failed[gateway]
                )
            )
        if gateway not in done:
            continue
        result = done[gateway]
        matched += len(result.match.matched)
        exceptions.extend(result.match.exceptions)
        posted += result.settlement.posted
        for currency, amount in result.settlement.fees_minor.items():
            fees[currency] = fees.get(currency, 0) + amount
    return ReconciliationReport(
        report_id=period.report_id,
        period_start=period.start,
        period_end=period.end,
        gateways=request.gateways,
        status=status,
        matched_count=matched,
        exceptions=tuple(exceptions),
        settlements_posted=posted,
        fees_minor=fees,
    )
