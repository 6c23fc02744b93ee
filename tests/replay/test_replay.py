"""Replay the recorded histories: a non-deterministic change of a workflow fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from workers.registry import WORKFLOWS, workflow_runner

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_every_workflow_has_histories() -> None:
    types = set()
    for path in HISTORIES:
        first = json.loads(path.read_text())["events"][0]
        types.add(first["workflowExecutionStartedEventAttributes"]["workflowType"]["name"])
    assert types == {defn.__temporal_workflow_definition.name for defn in WORKFLOWS}  # type: ignore[attr-defined]


# Both runners: the workers' (our packages passed through the sandbox, as in production)
# and the SDK's default, stricter sandbox that re-imports them and traps restricted calls.
RUNNERS = {"production": workflow_runner, "strict-sandbox": SandboxedWorkflowRunner}


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replays_deterministically(path: Path, runner: str) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=RUNNERS[runner]())
    await replayer.replay_workflow(history)
