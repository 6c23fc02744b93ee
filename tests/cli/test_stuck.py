"""`paysaga stuck` diagnostics on the real dev server.

Two running payment workflows stop progressing for different reasons: one whose
gateway activity keeps failing (retrying, with attempt count and last failure),
one waiting for its capture update. A third that just progressed is not listed.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributePair
from temporalio.common import TypedSearchAttributes as TSA
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from typer.testing import CliRunner

from paysaga.cli.main import app
from paysaga.cli.stuck_cmd import parse_duration
from paysaga.client.stuck import ReasonKind, find_stuck

STATUS = SearchAttributeKey.for_keyword("PaymentStatus")


@activity.defn(name="test.gateway_authorize_down")
async def gateway_down() -> None:
    raise RuntimeError("braintree answered 500 Internal Server Error")


@workflow.defn(name="PaymentWorkflow")
class StuckProbeWorkflow:
    """Stands in for the payment workflow's shape: status attribute + activity or wait."""

    def __init__(self) -> None:
        self.captured = False

    @workflow.run
    async def run(self, mode: str) -> None:
        if mode == "failing":
            workflow.upsert_search_attributes([STATUS.value_set("authorizing")])
            await workflow.execute_activity(
                gateway_down,
                start_to_close_timeout=timedelta(seconds=5),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=200), backoff_coefficient=1.0
                ),
            )
        else:
            workflow.upsert_search_attributes([STATUS.value_set("awaiting_capture")])
            await workflow.wait_condition(lambda: self.captured)

    @workflow.update
    async def capture(self) -> None:
        self.captured = True


async def test_find_stuck_names_each_reason(dev_client: Client, task_queue: str) -> None:
    merchant = f"mer_{uuid.uuid4().hex[:16]}"
    attrs = TSA([SearchAttributePair(SearchAttributeKey.for_keyword("MerchantId"), merchant)])
    async with Worker(
        dev_client,
        task_queue=task_queue,
        workflows=[StuckProbeWorkflow],
        activities=[gateway_down],
        workflow_runner=UnsandboxedWorkflowRunner(),  # the module imports the whole CLI
    ):
        ids = {}
        for mode in ("failing", "waiting"):
            ids[mode] = f"payment-{merchant}.{mode}"
            await dev_client.start_workflow(
                "PaymentWorkflow",
                mode,
                id=ids[mode],
                task_queue=task_queue,
                search_attributes=attrs,
            )
        await asyncio.sleep(2.5)  # both idle for > 2s now; the failing one has retried
        fresh = f"payment-{merchant}.fresh"
        await dev_client.start_workflow(
            "PaymentWorkflow", "waiting", id=fresh, task_queue=task_queue, search_attributes=attrs
        )
        found = []
        for _ in range(50):  # visibility is eventually consistent
            found = await find_stuck(
                dev_client,
                older_than=timedelta(seconds=2),
                merchant_id=merchant,
                ui_base="http://127.0.0.1:8233",
            )
            if len(found) == 2:
                break
            await asyncio.sleep(0.2)
        by_id = {payment.workflow_id: payment for payment in found}
        assert set(by_id) == {ids["failing"], ids["waiting"]}
        failing = by_id[ids["failing"]].reason
        assert failing.kind == ReasonKind.ACTIVITY_RETRYING
        assert failing.activity_type == "test.gateway_authorize_down"
        assert failing.attempt is not None and failing.attempt >= 2
        assert failing.last_failure and "500" in failing.last_failure
        waiting = by_id[ids["waiting"]]
        assert waiting.reason.kind == ReasonKind.WAITING
        assert "capture" in (waiting.reason.waiting_for or "")
        assert waiting.web_ui_url == (
            f"http://127.0.0.1:8233/namespaces/default/workflows/{ids['waiting']}"
        )
        for workflow_id in (*ids.values(), fresh):
            await dev_client.get_workflow_handle(workflow_id).terminate("test over")


def test_parse_duration_and_bad_input_message() -> None:
    assert parse_duration("15m") == timedelta(minutes=15)
    result = CliRunner().invoke(app, ["stuck", "--older-than", "soon"])
    assert result.exit_code == 1
    assert "--older-than" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args", [["pay", "--amount", "1.5", "--customer", "c", "--merchant", "m"]])
def test_bad_cli_input_is_one_message(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and "Traceback" not in result.output
