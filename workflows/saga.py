"""Saga bookkeeping: register a compensation before its step, run them in reverse on failure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError

Compensation = Callable[[], Awaitable[None]]


class Saga:
    def __init__(self) -> None:
        self._steps: list[tuple[str, Compensation]] = []
        self.compensated: list[str] = []
        self.failed: list[str] = []

    def add(self, name: str, compensation: Compensation) -> None:
        self._steps.append((name, compensation))

    def clear(self) -> None:
        """The saga committed: nothing is to be undone any more."""
        self._steps.clear()

    async def compensate(self) -> None:
        # Each compensation is idempotent and retried by its activities' policies: ledger
        # voids and gateway cancels without limit, booking a captured charge's capture and
        # refund in the ledger without a deadline (workflows/payment/postings.book), the
        # payment's lookups and the gateway refund within bounds.
        # One that still fails with an ActivityError is logged and listed in `failed`,
        # and is not retried later; the others still run. Other exceptions propagate.
        while self._steps:
            name, compensation = self._steps.pop()
            try:
                await compensation()
                self.compensated.append(name)
            except ActivityError as exc:
                workflow.logger.error("compensation %s failed: %s", name, exc.cause or exc)
                self.failed.append(name)
