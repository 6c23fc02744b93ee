"""`paysaga merchants create` on a real control database, `paysaga workers` on the dev server."""

from __future__ import annotations

import asyncio
import re

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from typer.testing import CliRunner

from paysaga.cli.main import app
from paysaga.client.control.db import control_engine
from paysaga.client.control.merchants import MerchantStore
from paysaga.client.workers import list_pollers
from paysaga.stack.temporal import TemporalDevServer


def test_merchants_create_prints_a_working_key_once(
    shard_dsns: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYSAGA_DATABASE_URLS", ",".join(shard_dsns))
    result = CliRunner().invoke(app, ["merchants", "create", "Acme Books"])
    assert result.exit_code == 0, result.output
    merchant_id = re.search(r"mer_[0-9a-f]{16}", result.output)
    api_key = re.search(r"psk_test_[0-9a-f]{16}_[A-Za-z0-9]{43}", result.output)
    assert merchant_id and api_key

    async def check() -> str | None:
        engine = control_engine(shard_dsns[0])
        try:
            return await MerchantStore(engine).authenticate(api_key.group(0))
        finally:
            await engine.dispose()

    assert asyncio.run(check()) == merchant_id.group(0)


@workflow.defn(name="NoopWorkflow")
class NoopWorkflow:
    @workflow.run
    async def run(self) -> None:
        return None


async def test_workers_lists_pollers(
    dev_client: Client, temporal_dev_server: TemporalDevServer, task_queue: str
) -> None:
    async with Worker(
        dev_client,
        task_queue=task_queue,
        workflows=[NoopWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),  # the module imports the whole CLI
    ):
        pollers = []
        for _ in range(50):
            pollers = await list_pollers(dev_client, [task_queue])
            if pollers:
                break
            await asyncio.sleep(0.1)
    assert {p.kind for p in pollers} == {"workflow"}
    assert all(p.task_queue == task_queue and p.identity for p in pollers)
