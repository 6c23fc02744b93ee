"""PaysagaClient's reconciliation: start one UTC day, wait for its report."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

from paysaga.client import starts
from paysaga.client.base import ClientBase
from paysaga.client.ids import PERIOD_RE, check
from paysaga.client.types import ReconciliationStarted
from paysaga.domain.errors import ValidationError
from paysaga.domain.reconciliation import ReconciliationReport, ReconciliationRequest


class ReconciliationMixin(ClientBase):
    async def reconcile(self, period: str | date) -> ReconciliationStarted:
        """Start reconciliation of one UTC day; a second call for the same day attaches."""
        day = check_period(period if isinstance(period, date) else _parse_day(period))
        start = datetime.combine(day, time.min, tzinfo=UTC)
        reconciliation_id = f"reconciliation-{day.isoformat()}"
        request = ReconciliationRequest(
            period_start=start,
            period_end=start + timedelta(days=1),
            report_id=reconciliation_id,
            routing=self.routing,
        )
        started = await starts.start_reconciliation(
            self.temporal, request, task_queue=self.task_queue
        )
        return ReconciliationStarted(reconciliation_id, day.isoformat(), not started.created)

    async def reconciliation_result(
        self, reconciliation_id: str, timeout: timedelta = timedelta(minutes=2)
    ) -> ReconciliationReport:
        handle = self.temporal.get_workflow_handle(
            reconciliation_id, result_type=ReconciliationReport
        )
        report: ReconciliationReport = await asyncio.wait_for(
            handle.result(), timeout.total_seconds()
        )
        return report


# Reconciliation reads gateway settlement reports of one day: nothing older than this
# exists, and a day after tomorrow (UTC, so every time zone's today is allowed) has none.
EARLIEST_PERIOD = date(2000, 1, 1)


def check_period(day: date, today: date | None = None) -> date:
    """`day` if it is a day that can be reconciled, else a ValidationError naming `period`."""
    today = today or datetime.now(UTC).date()
    latest = today + timedelta(days=1)
    if not EARLIEST_PERIOD <= day <= latest:
        raise ValidationError(
            f"period {day.isoformat()} is out of range: reconcile a day from "
            f"{EARLIEST_PERIOD.isoformat()} to {latest.isoformat()}",
            field="period",
        )
    return day


def _parse_day(value: str) -> date:
    check(PERIOD_RE, value, "period", "date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a calendar date", field="period") from None
