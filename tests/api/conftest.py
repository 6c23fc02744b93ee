"""Fixtures of the API tests: migrated shard databases on the session's embedded PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.migrate import upgrade_all
from paysaga.api.app import create_app
from paysaga.client.control.db import control_engine
from paysaga.client.control.keys import ApiKeyStore, IssuedApiKey
from paysaga.client.control.merchants import IssuedKey, MerchantStore
from paysaga.config.settings import Settings, load_settings
from paysaga.sandbox.runner import SandboxServers
from paysaga.stack.ports import free_port
from paysaga.stack.postgres import EmbeddedPostgres
from paysaga.stack.temporal import TemporalDevServer


@pytest.fixture(scope="session")
def shard_dsns(pg_server: EmbeddedPostgres) -> list[str]:
    """Two ledger shards (shard 0 is also the control database), migrated to heads."""
    prefix = f"api_{uuid.uuid4().hex[:8]}"
    dsns = [pg_server.ensure_database(f"{prefix}_shard_{i}") for i in range(2)]
    upgrade_all(dsns)
    return dsns


@pytest.fixture(scope="session")
async def control_db(shard_dsns: list[str]) -> AsyncIterator[AsyncEngine]:
    engine = control_engine(shard_dsns[0])
    try:
        yield engine
    finally:
        await engine.dispose()


@dataclass
class ApiServer:
    """The real app served by uvicorn on a loopback port (its own thread and event loop)."""

    url: str
    settings: Settings
    sandboxes: SandboxServers

    def client(self, api_key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture(scope="session")
def sandboxes() -> Iterator[SandboxServers]:
    with SandboxServers() as servers:
        yield servers


@pytest.fixture(scope="session")
def api_settings(
    shard_dsns: list[str], temporal_dev_server: TemporalDevServer, sandboxes: SandboxServers
) -> Settings:
    return load_settings(
        database_urls=shard_dsns,
        temporal_address=temporal_dev_server.address,
        stripe_api_base=sandboxes.stripe_url,
        braintree_base_url=sandboxes.braintree_url,
        plaid_base_url=sandboxes.plaid_url,
    )


@contextlib.contextmanager
def serve_api(
    settings: Settings, sandboxes: SandboxServers, **app_options: Any
) -> Iterator[ApiServer]:
    """A fresh app (own rate limiter, own Temporal client) on a free loopback port.

    `app_options` go to create_app (task_queue, routing: to reach a test's workers).
    """
    port = free_port()
    app = create_app(settings, **app_options)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("API server did not start")
        time.sleep(0.05)
    try:
        yield ApiServer(f"http://127.0.0.1:{port}", settings, sandboxes)
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def api_server(api_settings: Settings, sandboxes: SandboxServers) -> Iterator[ApiServer]:
    with serve_api(api_settings, sandboxes) as server:
        yield server


@pytest.fixture(scope="session")
async def merchants(control_db: AsyncEngine) -> MerchantStore:
    return MerchantStore(control_db)


@pytest.fixture
async def merchant(merchants: MerchantStore) -> IssuedKey:
    return await merchants.create_merchant("Test Merchant")


@pytest.fixture
async def operator(control_db: AsyncEngine) -> IssuedApiKey:
    """A platform operator's key (reconciliation, key management)."""
    return await ApiKeyStore(control_db).issue(operator=True, label="tests")


@pytest.fixture
async def other_merchant(merchants: MerchantStore) -> IssuedKey:
    return await merchants.create_merchant("Other Merchant")
