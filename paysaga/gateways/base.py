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

    def lookup(self, payment_id: str) -> GatewayPayment | None:
        """Find the payment made for our payment id, to resolve an OutcomeUnknown."""
        ...

    def list_settled(self, start: datetime, end: datetime) -> list[SettledTransaction]: ...
