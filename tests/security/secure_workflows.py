"""Small workflows of the security tests: every kind of payload carries a secret."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError


@dataclass(frozen=True)
class SecretInput:
    amount_minor: int
    customer_id: str
    token: str
    holder_name: str


@dataclass(frozen=True)
class SecretResult:
    receipt: str
    amount_minor: int


@activity.defn
async def charge_secret(inp: SecretInput) -> str:
    activity.heartbeat(f"charging {inp.token}")
    return f"receipt-for-{inp.customer_id}"


@activity.defn
async def heartbeat_secret(inp: SecretInput) -> str:
    # Heartbeat details are stored by the server (pending activity, retries).
    while True:
        activity.heartbeat({"progress": "charging", "token": inp.token})
        await asyncio.sleep(0.2)


@activity.defn
async def leak_in_error(inp: SecretInput) -> str:
    # Failure messages are payload-like data too: they must leave encrypted.
    raise ApplicationError(
        f"gateway refused token {inp.token} for {inp.holder_name}", non_retryable=True
    )


@workflow.defn
class SecretWorkflow:
    """Charges, then waits for an approval signal carrying a note, then completes."""

    def __init__(self) -> None:
        self._note: str | None = None
        self._receipt = ""

    @workflow.run
    async def run(self, inp: SecretInput) -> SecretResult:
        self._receipt = await workflow.execute_activity(
            charge_secret, inp, start_to_close_timeout=timedelta(seconds=10)
        )
        await workflow.wait_condition(lambda: self._note is not None)
        return SecretResult(receipt=f"{self._receipt}/{self._note}", amount_minor=inp.amount_minor)

    @workflow.signal
    def approve(self, note: str) -> None:
        self._note = note

    @workflow.query
    def receipt(self) -> str:
        return self._receipt

    @workflow.update
    def annotate(self, note: str) -> str:
        return f"noted {note} on {self._receipt}"


@workflow.defn
class HeartbeatWorkflow:
    @workflow.run
    async def run(self, inp: SecretInput) -> str:
        return await workflow.execute_activity(
            heartbeat_secret,
            inp,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=10),
        )


@workflow.defn
class LeakyFailureWorkflow:
    @workflow.run
    async def run(self, inp: SecretInput) -> str:
        return await workflow.execute_activity(
            leak_in_error, inp, start_to_close_timeout=timedelta(seconds=10)
        )
