"""PaysagaClient: what application code imports to start and drive payments.

Async, over a Temporal client built by `config.temporal.connect_client` (so every
payload is encrypted). One instance is scoped to one merchant (`for_merchant`);
payment ids are `payment-{merchant_id}.{idempotency_key}` (see client.ids), so a
merchant can never address another merchant's payment: it gets PaymentNotFound.
The HTTP API calls exactly these methods. Bank payments and bank accounts also read
the control database (`PaysagaClient.connect` opens both).

One module per concern: client.payments, client.onboarding, client.bank_accounts,
client.reconciliation; workflows start through client.starts, Temporal's errors become
ours in client.temporal_errors.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from paysaga.client.bank_accounts import BankAccountsMixin
from paysaga.client.control.bank_accounts import BankAccountStore
from paysaga.client.control.db import control_engine
from paysaga.client.onboarding import OnboardingMixin
from paysaga.client.payments import PaymentsMixin
from paysaga.client.reconciliation import ReconciliationMixin
from paysaga.config.settings import Settings
from paysaga.domain.names import PAYMENTS_TASK_QUEUE
from paysaga.domain.routing import Routing


class PaysagaClient(PaymentsMixin, OnboardingMixin, BankAccountsMixin, ReconciliationMixin):
    _owned_engine: AsyncEngine | None = None  # what connect() opened, close() disposes

    @classmethod
    async def connect(
        cls,
        settings: Settings,
        *,
        merchant_id: str | None = None,
        temporal: Client | None = None,
        routing: Routing | None = None,
        task_queue: str = PAYMENTS_TASK_QUEUE,
    ) -> PaysagaClient:
        """A client on the settings' Temporal and control database; `close()` it after."""
        from paysaga.config.temporal import connect_client

        engine = control_engine(settings.shard_urls()[0], pool_size=2)
        client = cls(
            temporal or await connect_client(settings),
            merchant_id=merchant_id,
            task_queue=task_queue,
            routing=routing,
            bank_accounts=BankAccountStore(engine),
        )
        client._owned_engine = engine
        return client

    async def close(self) -> None:
        """Release the database connections `connect` opened (the Temporal client needs
        no closing)."""
        if self._owned_engine is not None:
            await self._owned_engine.dispose()
            self._owned_engine = None

    def for_merchant(self, merchant_id: str) -> PaysagaClient:
        return PaysagaClient(
            self.temporal,
            merchant_id=merchant_id,
            task_queue=self.task_queue,
            routing=self.routing,
            eager_start=self.eager_start,
            bank_accounts=self.bank_accounts,
        )
