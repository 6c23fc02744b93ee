"""The one Protocol every card gateway adapter implements.

Methods are synchronous because the official SDKs are; activities run them in a
thread pool. Every mutating call takes our idempotency key; adapters disable the
SDKs' own retries and random idempotency keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from paysaga.gateways.types import (
    AuthorizeRequest,
    GatewayPayment,
    RefundResult,
    SettledTransaction,
    VaultedCustomer,
)


@runtime_checkable
class CardGateway(Protocol):
    name: str
    # Does a resend with the same idempotency key return the first request's result?
    # (Stripe: yes, for 24 h; Braintree: it has no idempotency key.)
    replays_idempotency_keys: bool

    def vault_customer(
        self, idempotency_key: str, *, email: str, name: str, payment_method: str
    ) -> VaultedCustomer: ...

    def authorize(self, request: AuthorizeRequest) -> GatewayPayment: ...

    def capture(
        self, idempotency_key: str, reference: str, amount_minor: int | None = None
    ) -> GatewayPayment: ...

    def cancel(self, idempotency_key: str, reference: str) -> GatewayPayment: ...

    def refund(self, idempotency_key: str, reference: str, amount_minor: int) -> RefundResult: ...

    def retrieve(self, reference: str) -> GatewayPayment: ...

    def retrieve_refund(self, reference: str) -> RefundResult:
        """A refund's current status by its own id (never a search): pending refunds are
        polled with it, so one whose webhook was lost is still resolved."""
        ...

    def lookup(
        self, payment_id: str, *, attempt_key: str | None = None, since: datetime | None = None
    ) -> GatewayPayment | None:
        """Find the payment made for our payment id, to resolve an OutcomeUnknown.

        `attempt_key` (Stripe) / `since` (Braintree) narrow it to one attempt. Searches are
        eventually consistent at both gateways: None is "not visible yet", not a verdict.
        """
        ...

    def list_settled(self, start: datetime, end: datetime) -> list[SettledTransaction]: ...
