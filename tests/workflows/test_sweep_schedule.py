"""The standing schedules on the dev server: created once, a second ensure is a no-op."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import Client, ScheduleActionStartWorkflow

from paysaga.client.starts import ensure_reconciliation_schedule, ensure_sweep_schedule


async def test_sweep_and_reconciliation_schedules_are_created_once(dev_client: Client) -> None:
    suffix = uuid.uuid4().hex[:8]
    for ensure, workflow, every in (
        (ensure_sweep_schedule, "SweepWorkflow", timedelta(hours=1)),
        (ensure_reconciliation_schedule, "ReconciliationWorkflow", timedelta(days=1)),
    ):
        schedule_id = f"test-{workflow}-{suffix}"
        assert await ensure(dev_client, schedule_id=schedule_id) == schedule_id
        assert await ensure(dev_client, schedule_id=schedule_id) == schedule_id  # exists: kept
        handle = dev_client.get_schedule_handle(schedule_id)
        try:
            desc = await handle.describe()
            action = desc.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow)
            assert action.workflow == workflow
            assert [i.every for i in desc.schedule.spec.intervals] == [every]
        finally:
            await handle.delete()
