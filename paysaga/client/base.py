"""What every part of PaysagaClient shares: the Temporal client, the merchant scope, the
task queue and routing its workflows start with, the call timeouts, polling."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowHandle

from paysaga.client.control.bank_accounts import BankAccountStore
from paysaga.client.ids import MERCHANT_ID_RE, check
from paysaga.domain.errors import ConfigurationError, PaysagaError, ValidationError
from paysaga.domain.names import PAYMENTS_TASK_QUEUE
from paysaga.domain.routing import DEFAULT_ROUTING, Routing

V = TypeVar("V")

QUERY_TIMEOUT = timedelta(seconds=10)
UPDATE_TIMEOUT = timedelta(seconds=60)


class ClientBase:
    def __init__(
        self,
        temporal: Client,
        *,
        merchant_id: str | None = None,
        task_queue: str = PAYMENTS_TASK_QUEUE,
        routing: Routing | None = None,
        eager_start: bool = False,
        bank_accounts: BankAccountStore | None = None,
    ) -> None:
        if merchant_id is not None:
            check(MERCHANT_ID_RE, merchant_id, "merchant_id", "merchant id")
        self.temporal = temporal
        self.merchant_id = merchant_id
        self.task_queue = task_queue
        self.routing = routing or DEFAULT_ROUTING
        # Eager start: the server hands the first workflow task back in the start call,
        # which only helps when a worker on this same Client polls task_queue.
        self.eager_start = eager_start
        # The control database's bank accounts (PaysagaClient.connect opens it): what bank
        # payments and the bank-account methods read. None: card payments only.
        self.bank_accounts = bank_accounts

    def _merchant(self) -> str:
        if self.merchant_id is None:
            raise ValidationError("this client is not scoped to a merchant", field="merchant_id")
        return self.merchant_id

    def _bank_accounts(self) -> BankAccountStore:
        if self.bank_accounts is None:
            raise ConfigurationError(
                "this PaysagaClient has no control database: build it with "
                "PaysagaClient.connect(settings) or pass bank_accounts=BankAccountStore(...)",
                field="bank_accounts",
            )
        return self.bank_accounts

    def _owned_handle(
        self,
        resource_id: object,
        merchant_of: Callable[[str], str | None],
        not_found: Callable[[str], PaysagaError],
    ) -> WorkflowHandle[Any, Any]:
        """The workflow's handle if its id is this merchant's; otherwise `not_found`."""
        owner = merchant_of(resource_id) if isinstance(resource_id, str) else None
        if owner is None or (self.merchant_id is not None and owner != self.merchant_id):
            raise not_found(str(resource_id)[:120])
        return self.temporal.get_workflow_handle(str(resource_id))


async def poll(
    fetch: Callable[[], Awaitable[V]],
    done: Callable[[V], bool],
    timeout: timedelta,
    interval: float = 0.2,
) -> V:
    """Fetch until `done(value)` or the timeout; returns the last value."""
    deadline = asyncio.get_running_loop().time() + timeout.total_seconds()
    while True:
        value = await fetch()
        if done(value) or asyncio.get_running_loop().time() >= deadline:
            return value
        await asyncio.sleep(interval)
