"""`paysaga sweep`: the request it starts and the findings it prints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from paysaga.cli.main import app
from paysaga.domain.sweep import Action, Finding, Reason, SweepReport, SweepRequest

AT = datetime(2026, 12, 1, tzinfo=UTC)


def test_sweep_prints_findings_and_what_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[SweepRequest] = []
    report = SweepReport(
        sweep_id="sweep-1",
        started_at=AT,
        window_start=AT,
        window_end=AT,
        gateways=("stripe",),
        examined=3,
        findings=(
            Finding("gateway", "stripe", "pi_1", "", 2100, "USD", Reason.ORPHAN, Action.REFUND),
            Finding(
                "hold",
                "",
                "0:9",
                "p",
                700,
                "USD",
                Reason.HOLD_WITHOUT_WORKFLOW,
                Action.VOID_HOLD,
                True,
            ),
        ),
        counts={"orphan": 1, "owned_by_live_workflow": 2},
        dry_run=True,
    )

    async def connect(_: Any) -> object:
        return object()

    async def run(_: object, request: SweepRequest) -> SweepReport:
        seen.append(request)
        return report

    monkeypatch.setattr("paysaga.config.temporal.connect_client", connect)
    monkeypatch.setattr("paysaga.client.starts.run_sweep", run)
    result = CliRunner().invoke(app, ["sweep", "--dry-run", "--lag", "5m", "--hold-age", "2h"])
    assert result.exit_code == 0, result.output
    assert seen[0].dry_run and (seen[0].lag_s, seen[0].hold_age_s) == (300, 7200)
    assert "pi_1" in result.output and "orphan" in result.output
    assert "owned_by_live_workflow: 2" in result.output
    assert "1 unresolved" in result.output
