"""Workers start and serve while one ledger shard's PostgreSQL is down (issue 13).

Shard 0 lives on the session's embedded PostgreSQL; shard 1 on a second embedded
server of its own that the tests stop and start. A worker killed during a shard outage
is restarted into it (bench.chaos `--shard-outage` with `--kills`), so its start must
not need every shard: the down shard's activities fail with the retryable
ShardUnavailable until it is back, then succeed in the same process.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.chart import merchant_payable
from activities.ledger import LedgerActivities
from ledger.migrate import upgrade
from ledger.shards import stable_shard
from paysaga.config.settings import Settings, load_settings
from paysaga.domain.ledger import LedgerHoldInput
from paysaga.stack.ports import free_port
from paysaga.stack.postgres import EmbeddedPostgres
from paysaga.stack.temporal import TemporalDevServer
from workers.deps import Dependencies


@pytest.fixture
def shard_server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """Shard 1's own PostgreSQL, migrated, then stopped: the outage the worker starts in."""
    server = EmbeddedPostgres(tmp_path / "shard1", free_port())
    server.start()
    try:
        upgrade(server.ensure_database("shard_1"))
        server.stop(mode="immediate")
        yield server
    finally:
        server.stop(mode="immediate")


@pytest.fixture
def settings(pg_server: EmbeddedPostgres, shard_server: EmbeddedPostgres) -> Iterator[Settings]:
    name = f"wk_{uuid.uuid4().hex[:8]}_shard_0"
    shard_0 = pg_server.ensure_database(name)
    upgrade(shard_0)
    shard_1 = shard_server.url("shard_1")  # carries its password, which is never printed
    try:
        yield load_settings(database_urls=[shard_0, shard_1])
    finally:
        pg_server.drop_database(name)


def merchant_on(shard: int) -> str:
    for n in range(1000):
        merchant = f"m_{uuid.uuid4().hex[:6]}_{n}"
        if stable_shard(merchant_payable(merchant, "USD"), 2) == shard:
            return merchant
    raise AssertionError("no merchant id hashes to the shard")


def hold(merchant: str) -> LedgerHoldInput:
    payment = f"pay_{uuid.uuid4().hex[:10]}"
    return LedgerHoldInput(payment, f"{payment}:hold", merchant, "cus_1", "stripe", 1250, "USD")


async def test_worker_starts_and_serves_with_a_shard_down(
    settings: Settings, shard_server: EmbeddedPostgres
) -> None:
    # The worker process's own start-up (python -m workers): must not fail.
    deps = await Dependencies.open(settings, gateways=False, ledger=True)
    try:
        assert deps.ledger is not None
        assert deps.ledger.shards.status() == {0: "ok", 1: "degraded"}
        activities = LedgerActivities(deps.ledger)
        env = ActivityEnvironment()
        down = hold(merchant_on(1))

        began = time.monotonic()
        with pytest.raises(ApplicationError) as raised:
            await env.run(activities.hold, down)
        assert raised.value.type == "ShardUnavailable"
        assert not raised.value.non_retryable
        # At once, not after the pool's 30 s wait (the activity's own start-to-close).
        assert time.monotonic() - began < 5

        # The other shard's payments are unaffected.
        up = await env.run(activities.hold, hold(merchant_on(0)))
        assert up.shard == 0

        shard_server.start()
        ref = None
        deadline = time.monotonic() + 20
        while ref is None:  # the activity's retries, as Temporal would run them
            try:
                ref = await env.run(activities.hold, down)
            except ApplicationError as exc:
                assert exc.type == "ShardUnavailable" and time.monotonic() < deadline
                await asyncio.sleep(0.5)
        assert ref.shard == 1
        assert deps.ledger.shards.status() == {0: "ok", 1: "ok"}
    finally:
        await deps.close()


def test_worker_process_starts_with_a_shard_down(
    settings: Settings, shard_server: EmbeddedPostgres, temporal_dev_server: TemporalDevServer
) -> None:
    env = {
        **os.environ,
        "PAYSAGA_TEMPORAL_ADDRESS": temporal_dev_server.address,
        "PAYSAGA_DATABASE_URLS": ",".join(settings.database_urls),
        "PAYSAGA_LOG_FORMAT": "json",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers", "--queue", "ledger"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        for line in proc.stdout:
            lines.append(line)
            if "workers.started" in line or time.monotonic() > deadline:
                break
        proc.terminate()
        lines.append(proc.communicate(timeout=30)[0])
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(lines)
    assert "workers.started" in output, output
    started = next(line for line in lines if "workers.started" in line)
    assert '"degraded_shards": [1]' in started
    warning = next(line for line in lines if "ledger.shard_unavailable" in line)
    assert '"shard": 1' in warning and "shard_1" in warning
    assert shard_server.password not in output
    assert proc.returncode == 0, output
