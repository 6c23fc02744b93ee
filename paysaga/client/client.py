"""PaysagaClient: what application code imports to start and drive payments.

Async, over a Temporal client built by `config.temporal.connect_client` (so every
payload is encrypted). One instance is scoped to one merchant (`for_merchant`);
payment ids are `payment-{merchant_id}.{idempotency_key}` (see client.ids), so a
merchant can never address another merchant's payment: it gets PaymentNotFound.
The HTTP API calls exactly these methods.

One module per concern: client.payments, client.onboarding, client.reconciliation;
workflows start through client.starts, Temporal's errors become ours in
client.temporal_errors.
"""

from __future__ import annotations

from paysaga.client.onboarding import OnboardingMixin
from paysaga.client.payments import PaymentsMixin
from paysaga.client.reconciliation import ReconciliationMixin


class PaysagaClient(PaymentsMixin, OnboardingMixin, ReconciliationMixin):
    def for_merchant(self, merchant_id: str) -> PaysagaClient:
        return PaysagaClient(
            self.temporal,
            merchant_id=merchant_id,
            task_queue=self.task_queue,
            routing=self.routing,
            eager_start=self.eager_start,
        )
