"""The real engine for integration tests: migrated shards on the embedded PostgreSQL, the
sandboxes, the dev server, and the production workers (build_workers) on fresh queues.

Imported by tests/workflows/conftest.py and tests/e2e/test_payments_e2e.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle

from ledger.migrate import upgrade_all
from paysaga.client.starts import start_payment
from paysaga.config.settings import Settings, load_settings
from paysaga.config.temporal import connect_client
from paysaga.domain.payments import PaymentOptions, PaymentRequest, PaymentView
from paysaga.domain.routing import Routing
from paysaga.domain.status import PaymentStatus
from paysaga.sandbox.runner import SandboxServers
from paysaga.stack.postgres import EmbeddedPostgres
from paysaga.stack.temporal import TemporalDevServer
from workers.build import QUEUE_KINDS, QueueNames, build_workers
from workers.deps import Dependencies
from workers.settings import WorkerSettings
from workflows.payment import PaymentWorkflow


@dataclass
class Engine:
    client: Client
    settings: Settings
    names: QueueNames
    deps: Dependencies
    sandboxes: SandboxServers

    @property
    def routing(self) -> Routing:
        # As clients start payments (local ledger postings), on this engine's queues.
        return Routing(gateways=self.names.gateways, ledger=self.names.ledger, local_ledger=True)

    def card(self, gateway: str, merchant: str, amount: int = 1500, **kw: object) -> PaymentRequest:
        method = "pm_card_visa" if gateway == "stripe" else "fake-valid-nonce"
        return PaymentRequest(
            idempotency_key=uuid.uuid4().hex,
            merchant_id=merchant,
            customer_id=f"cust-{merchant}",
            amount_minor=amount,
            currency="USD",
            payment_method=method,
            preferred_gateway=gateway,
            routing=self.routing,
            options=PaymentOptions(refund_window_s=int(timedelta(days=1).total_seconds())),
            **kw,  # type: ignore[arg-type]
        )

    async def start(self, request: PaymentRequest) -> WorkflowHandle[PaymentWorkflow, PaymentView]:
        handle, _ = await start_payment(self.client, request, task_queue=self.names.payments)
        return handle

    async def settle_sandboxes(self) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            for url in (self.sandboxes.stripe_url, self.sandboxes.braintree_url):
                (await http.post(f"{url}/__sandbox/settle", json={})).raise_for_status()


async def wait_for(
    handle: WorkflowHandle[PaymentWorkflow, PaymentView],
    statuses: set[PaymentStatus],
    timeout_s: float = 30,
) -> PaymentView:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        view = await handle.query(PaymentWorkflow.status)
        if view.status in statuses:
            return view
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{handle.id}: {view.status} ({view.last_error})")
        await asyncio.sleep(0.1)


@pytest.fixture(scope="session")
def engine_sandboxes() -> Iterator[SandboxServers]:
    with SandboxServers() as servers:
        yield servers


@pytest.fixture(scope="session")
def engine_settings(
    pg_server: EmbeddedPostgres,
    temporal_dev_server: TemporalDevServer,
    engine_sandboxes: SandboxServers,
) -> Settings:
    prefix = f"wf_{uuid.uuid4().hex[:8]}"
    dsns = [pg_server.ensure_database(f"{prefix}_shard_{i}") for i in range(2)]
    upgrade_all(dsns)
    return load_settings(
        database_urls=dsns,
        temporal_address=temporal_dev_server.address,
        stripe_api_base=engine_sandboxes.stripe_url,
        braintree_base_url=engine_sandboxes.braintree_url,
        plaid_base_url=engine_sandboxes.plaid_url,
    )


@pytest.fixture(scope="session")
async def engine(
    engine_settings: Settings, engine_sandboxes: SandboxServers
) -> AsyncIterator[Engine]:
    client = await connect_client(engine_settings)  # the encrypting converter, as in prod
    deps = await Dependencies.open(engine_settings, gateways=True, ledger=True)
    base = f"it-{uuid.uuid4().hex[:8]}"
    names = QueueNames(payments=f"{base}-payments", gateways=f"{base}-gw", ledger=f"{base}-ledger")
    workers = build_workers(
        client,
        engine_settings,
        QUEUE_KINDS,
        deps,
        names=names,
        worker_settings=WorkerSettings(graceful_shutdown_s=1, stripe_rate=200, braintree_rate=200),
    )
    runs = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield Engine(client, engine_settings, names, deps, engine_sandboxes)
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*runs, return_exceptions=True)
        await deps.close()
