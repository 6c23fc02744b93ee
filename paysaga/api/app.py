"""The FastAPI application: payments API, webhook ingress, health; OpenAPI at /openapi.json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from temporalio.client import Client

from ledger.service import Ledger
from paysaga.api import (
    bank_accounts,
    health,
    ledger_routes,
    onboarding,
    payments,
    reconciliations,
    sandbox,
    webhooks,
)
from paysaga.api.auth_throttle import AuthThrottle
from paysaga.api.errors import install_error_handlers
from paysaga.api.limits import MAX_BODY_BYTES, BodySizeLimit
from paysaga.api.state import AppState
from paysaga.client import PaysagaClient
from paysaga.client.control.bank_accounts import BankAccountStore
from paysaga.client.control.db import control_engine
from paysaga.client.control.idempotency import IdempotencyStore
from paysaga.client.control.keys import ApiKeyStore
from paysaga.client.control.merchants import MerchantStore
from paysaga.client.control.webhook_events import WebhookEventStore
from paysaga.config.settings import Settings
from paysaga.domain.names import PAYMENTS_TASK_QUEUE
from paysaga.domain.routing import Routing
from paysaga.gateways.braintree_webhooks import BraintreeWebhookVerifier
from paysaga.gateways.plaid_client import PlaidClient
from paysaga.gateways.webhooks import PlaidWebhookVerifier
from paysaga.security.keyring import Keyring
from paysaga.security.open_workflow_keys import check_open_workflows

log = structlog.get_logger(__name__)


def create_app(
    settings: Settings,
    *,
    temporal: Client | None = None,
    task_queue: str = PAYMENTS_TASK_QUEUE,
    routing: Routing | None = None,
    auth_throttle: AuthThrottle | None = None,
    check_keys: bool = True,
) -> FastAPI:
    """Build the app. `temporal`/`task_queue`/`routing` let tests point it at their workers.

    `check_keys`: at start-up, refuse a key set that cannot decode the open workflows of
    `task_queue` (security.open_workflow_keys); `python -m paysaga.api` checks before.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from paysaga.config.temporal import connect_client

        client = temporal or await connect_client(settings)
        if check_keys:
            await check_open_workflows(
                client, Keyring.from_settings(settings), task_queue, settings.undecodable_workflows
            )
        engine = control_engine(settings.shard_urls()[0])
        # Up with a shard down: /readyz reports it degraded, its accounts fail retryably.
        ledger = await Ledger(settings.shard_urls(), pool_max=5).open(require_all=False)
        plaid = PlaidClient.from_settings(settings)
        bank_account_store = BankAccountStore(engine)
        app.state.paysaga = AppState(
            settings=settings,
            temporal=client,
            engine=engine,
            ledger=ledger,
            payments=PaysagaClient(
                client, task_queue=task_queue, routing=routing, bank_accounts=bank_account_store
            ),
            merchants=MerchantStore(engine),
            api_keys=ApiKeyStore(engine),
            idempotency=IdempotencyStore(engine),
            bank_accounts=bank_account_store,
            webhook_events=WebhookEventStore(engine),
            auth_throttle=auth_throttle or AuthThrottle(),
            braintree_webhooks=BraintreeWebhookVerifier.from_settings(settings),
            plaid_webhooks=PlaidWebhookVerifier(plaid.webhook_verification_key),
            plaid=plaid,
        )
        log.info("api.started", shards=len(settings.shard_urls()))
        try:
            yield
        finally:
            plaid.close()
            await ledger.close()
            await engine.dispose()

    app = FastAPI(
        title="paysaga",
        version="1",
        description="Payments as durable sagas: create, capture, cancel and refund payments; "
        "onboard bank accounts; read ledger balances. Authenticate with "
        "`Authorization: Bearer psk_...`. Errors are "
        '`{"error": {"code", "message", "field"}}`.',
        lifespan=lifespan,
    )
    install_error_handlers(app)
    routers = [
        health.router,
        payments.router,
        onboarding.router,
        bank_accounts.router,
        ledger_routes.router,
        reconciliations.router,
        webhooks.router,
    ]
    if settings.env != "production":
        routers.append(sandbox.router)  # sandbox public tokens: never in production
    for router in routers:
        app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    return app
