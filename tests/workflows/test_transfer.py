"""CrossShardTransferWorkflow: success, and failing halfway voids what was made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from paysaga.client.starts import start_transfer
from paysaga.domain import activity_names as names
from paysaga.domain.ledger import LedgerEntryRef, TransferLegInput, TransferRequest
from paysaga.domain.routing import Routing
from paysaga.domain.status import TransferStatus
from tests.workflows.helpers import worker


@dataclass
class FakeShards:
    fail_destination: bool = False
    holds: dict[str, str] = field(default_factory=dict)  # side -> pending|posted|voided
    calls: list[tuple[str, str]] = field(default_factory=list)

    def activities(self) -> list[Any]:
        return [self.pending, self.post, self.void]

    @activity.defn(name=names.TRANSFER_PENDING)
    async def pending(self, request: TransferLegInput) -> LedgerEntryRef:
        self.calls.append(("pending", request.side))
        if request.side == "destination" and self.fail_destination:
            raise ApplicationError("no such account", type="UnknownAccount", non_retryable=True)
        self.holds[request.side] = "pending"
        return LedgerEntryRef(f"{request.side}-1")

    @activity.defn(name=names.TRANSFER_POST)
    async def post(self, request: TransferLegInput) -> LedgerEntryRef:
        self.calls.append(("post", request.side))
        self.holds[request.side] = "posted"
        return LedgerEntryRef(f"{request.side}-1")

    @activity.defn(name=names.TRANSFER_VOID)
    async def void(self, request: TransferLegInput) -> LedgerEntryRef:
        self.calls.append(("void", request.side))
        if request.side in self.holds:
            self.holds[request.side] = "voided"
        return LedgerEntryRef(f"{request.side}-1")


def transfer(task_queue: str) -> TransferRequest:
    return TransferRequest(
        transfer_id=task_queue,
        from_account="merchant_payable:m1:USD",
        to_account="merchant_payable:m2:USD",
        amount_minor=500,
        currency="USD",
        routing=Routing.single(task_queue),
    )


async def test_transfer_posts_both_sides(env: WorkflowEnvironment, task_queue: str) -> None:
    shards = FakeShards()
    async with worker(env.client, task_queue, shards.activities()):
        handle, _ = await start_transfer(env.client, transfer(task_queue), task_queue=task_queue)
        result = await handle.result()
    assert result.status == TransferStatus.COMPLETED
    assert shards.holds == {"source": "posted", "destination": "posted"}


async def test_transfer_failing_halfway_voids_source(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    shards = FakeShards(fail_destination=True)
    async with worker(env.client, task_queue, shards.activities()):
        handle, _ = await start_transfer(env.client, transfer(task_queue), task_queue=task_queue)
        result = await handle.result()
    assert result.status == TransferStatus.FAILED
    assert result.last_error and "UnknownAccount" in result.last_error
    assert shards.holds == {"source": "voided"}
    assert ("post", "source") not in shards.calls
    # Compensations ran in reverse: the (never made) destination first, then the source.
    assert shards.calls[-2:] == [("void", "destination"), ("void", "source")]
