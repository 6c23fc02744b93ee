"""An old encryption key removed while workflows encrypted with it are open (issue 14 item 7).

Before: the stack started without a word and the API answered `503 "status query failed:
Encoded failure"`. Now workers and the API refuse to start naming the missing key id
(`python -m workers`, `python -m paysaga.api`), and with PAYSAGA_UNDECODABLE_WORKFLOWS=warn
the API's error names it. Its own dev server: the open workflows it leaves behind on the
default task queue must not reach other tests' start-up checks.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from paysaga.client import PaysagaClient
from paysaga.client.control.merchants import IssuedKey
from paysaga.domain.names import PAYMENTS_TASK_QUEUE
from paysaga.domain.routing import Routing
from paysaga.sandbox.runner import SandboxServers
from paysaga.security.errors import KeyringError
from paysaga.security.keyring import Keyring
from paysaga.security.open_workflow_keys import (
    OpenRun,
    check_open_workflows,
    find_missing_keys,
    sample,
)
from paysaga.stack.ports import free_port
from paysaga.stack.temporal import TemporalDevServer
from tests.api import conftest as api_fixtures
from tests.api.conftest import serve_api
from tests.security.conftest import key_spec, make_key, settings_with
from workers.registry import WORKFLOWS, workflow_runner

shard_dsns = api_fixtures.shard_dsns
control_db = api_fixtures.control_db
sandboxes = api_fixtures.sandboxes
merchants = api_fixtures.merchants
merchant = api_fixtures.merchant

OLD, NEW = make_key("k-old"), make_key("k-new")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def own_temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    log = tmp_path_factory.mktemp("temporal-keys") / "temporal.log"
    server = TemporalDevServer(port=free_port(), ui_port=None, log_file=log)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _client(server: TemporalDevServer, *keys: tuple[str, bytes]) -> Client:
    from paysaga.config.temporal import connect_client

    return await connect_client(settings_with(*keys), address=server.address)


def _payments_worker(client: Client) -> Worker:
    # Workflows only: the payment schedules its authorization on a queue nobody polls,
    # so it stays open, as a payment in its refund window does.
    return Worker(
        client,
        task_queue=PAYMENTS_TASK_QUEUE,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
    )


@pytest.fixture(scope="module")
async def old_payment(own_temporal: TemporalDevServer) -> AsyncIterator[tuple[str, str]]:
    """An open payment whose history is encrypted with k-old: (payment id, merchant id)."""
    merchant_id = f"mer_{uuid.uuid4().hex[:16]}"
    client = await _client(own_temporal, OLD)
    payments = PaysagaClient(
        client,
        task_queue=PAYMENTS_TASK_QUEUE,
        merchant_id=merchant_id,
        routing=Routing(gateways=f"nobody-{uuid.uuid4().hex[:8]}"),
    )
    async with _payments_worker(client):
        view = await payments.create_payment(
            idempotency_key=uuid.uuid4().hex,
            amount_minor=1500,
            currency="USD",
            customer_id="cust-1",
            payment_method="pm_card_visa",
            gateway="stripe",
            wait=timedelta(seconds=0),
        )
        for _ in range(100):  # its first workflow task done: it ran under k-old
            if (await payments.get_payment(view.payment_id)).status != "pending":
                break
            await asyncio.sleep(0.1)
    yield view.payment_id, merchant_id


async def test_the_check_names_the_missing_key(
    own_temporal: TemporalDevServer, old_payment: tuple[str, str]
) -> None:
    payment_id, _ = old_payment
    client = await _client(own_temporal, NEW)
    missing = await find_missing_keys(client, Keyring([NEW]), PAYMENTS_TASK_QUEUE)
    assert [(m.key_id, m.workflow_ids) for m in missing] == [("k-old", (payment_id,))]
    with pytest.raises(KeyringError) as refused:
        await check_open_workflows(client, Keyring([NEW]), PAYMENTS_TASK_QUEUE)
    assert "'k-old'" in refused.value.message and payment_id in refused.value.message
    assert refused.value.field == "PAYSAGA_ENCRYPTION_KEYS"
    warned = await check_open_workflows(client, Keyring([NEW]), PAYMENTS_TASK_QUEUE, "warn")
    assert [m.key_id for m in warned] == ["k-old"]
    # Rotated properly (new key first, old one kept): nothing is missing.
    assert await find_missing_keys(client, Keyring([NEW, OLD]), PAYMENTS_TASK_QUEUE) == []


@pytest.mark.parametrize(
    "command",
    [["-m", "workers", "--queue", "payments"], ["-m", "paysaga.api", "--port", "0"]],
    ids=["workers", "api"],
)
def test_start_up_refuses_a_key_set_missing_an_open_workflows_key(
    own_temporal: TemporalDevServer,
    old_payment: tuple[str, str],
    shard_dsns: list[str],
    command: list[str],
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSAGA_")}
    env.update(
        PAYSAGA_TEMPORAL_ADDRESS=own_temporal.address,
        PAYSAGA_DATABASE_URLS=",".join(shard_dsns),
        PAYSAGA_ENCRYPTION_KEYS=key_spec(NEW),
        PAYSAGA_LOG_FORMAT="json",
    )
    done = subprocess.run(
        [sys.executable, *command], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "'k-old'" in done.stderr and "PAYSAGA_ENCRYPTION_KEYS" in done.stderr
    assert "Traceback" not in done.stderr


async def test_api_error_names_the_missing_key(
    own_temporal: TemporalDevServer,
    shard_dsns: list[str],
    merchant: IssuedKey,
    sandboxes: SandboxServers,
) -> None:
    # An open payment of this merchant, under k-old (the API queries only its own).
    client = await _client(own_temporal, OLD)
    payments = PaysagaClient(
        client,
        task_queue=PAYMENTS_TASK_QUEUE,
        merchant_id=merchant.merchant_id,
        routing=Routing(gateways=f"nobody-{uuid.uuid4().hex[:8]}"),
    )
    async with _payments_worker(client):
        payment_id = (
            await payments.create_payment(
                idempotency_key=uuid.uuid4().hex,
                amount_minor=1500,
                currency="USD",
                customer_id="cust-1",
                payment_method="pm_card_visa",
                gateway="stripe",
                wait=timedelta(seconds=2),
            )
        ).payment_id
    settings = settings_with(
        NEW,
        database_urls=shard_dsns,
        temporal_address=own_temporal.address,
        undecodable_workflows="warn",
    )
    new_worker_client = await _client(own_temporal, NEW)
    async with _payments_worker(new_worker_client):
        with serve_api(settings, sandboxes) as api, api.client(merchant.api_key) as http:
            response = await asyncio.to_thread(http.get, f"/v1/payments/{payment_id}")
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "encryption_key_missing"
    assert "'k-old'" in error["message"] and error["field"] == "PAYSAGA_ENCRYPTION_KEYS"


def test_sample_takes_the_oldest_and_spreads_over_the_rest() -> None:

    runs = [
        OpenRun(f"w{i}", "r", datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i))
        for i in range(100)
    ]
    picked = sample(list(reversed(runs)), oldest=4, spread=4)
    assert [run.workflow_id for run in picked] == [
        "w0",
        "w1",
        "w2",
        "w3",
        "w4",
        "w28",
        "w52",
        "w76",
    ]
    assert sample(runs[:5], oldest=4, spread=4) == runs[:5]
