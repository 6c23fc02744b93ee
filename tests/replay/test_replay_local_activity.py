"""Why ledger postings are activity tasks by default (paysaga.domain.routing).

A history recorded by `paysaga demo` with postings as local activities (encrypted with
the development key): the capture's local activity resolved in the workflow task after
the one that recorded its marker. A replay resolves it a task early, before the
server's notice of the patch marker that follows (refund-window-carried), so
`workflow.patched` answers False and the replay fails: the status query failed as
non-deterministic in one demo of five, and a worker restart would leave the payment
stuck. The test pins that behaviour of the SDK: if it ever passes, local postings can
be the default again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from paysaga.config.settings import Settings
from paysaga.config.temporal import data_converter
from paysaga.domain.routing import DEFAULT_ROUTING
from workers.registry import WORKFLOWS, workflow_runner

HISTORIES = Path(__file__).parent / "histories" / "encrypted"


async def test_a_patch_right_after_a_late_local_activity_result_fails_replay() -> None:
    text = (HISTORIES / "payment_patch_after_local_activity.json").read_text()
    history = WorkflowHistory.from_json("payment-demo", text)
    replayer = Replayer(
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        data_converter=data_converter(Settings()),
    )
    with pytest.raises(NondeterminismError, match="refund-window-carried"):
        await replayer.replay_workflow(history)


def test_new_work_posts_to_the_ledger_as_activity_tasks() -> None:
    assert DEFAULT_ROUTING.local_ledger is False
