"""CrossShardTransferWorkflow: success, failing halfway voids what was made, and a rerun of
a voided transfer id holds nothing (on the real ledger)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.ledger import LedgerActivities
from ledger.service import Ledger
from paysaga.client.starts import start_transfer
from paysaga.domain import activity_names as names
from paysaga.domain.ledger import (
    LedgerEntryRef,
    TransferLegInput,
    TransferRequest,
    TransferView,
)
from paysaga.domain.routing import Routing
from paysaga.domain.status import TransferStatus
from tests.ledger.conftest import shard_dsns  # noqa: F401  (a fixture)
from tests.ledger.test_cross_shard_rerun import funded_source, open_holds
from tests.ledger.test_two_phase import accounts_on_two_shards
from tests.workflows.helpers import worker
from workflows.transfer import CrossShardTransferWorkflow


@dataclass
class FakeShards:
    fail_destination: bool = False
    voided_at_post: bool = False  # the ledger refuses the post: a hold was voided earlier
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
        if self.voided_at_post:
            self.holds = {side: "voided" for side in self.holds}
            raise ApplicationError(
                "transfer was voided by an earlier run", type="AlreadyVoided", non_retryable=True
            )
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


async def run_transfer(
    env: WorkflowEnvironment, task_queue: str, shards: FakeShards
) -> TransferView:
    async with worker(env.client, task_queue, shards.activities()):
        handle, _ = await start_transfer(env.client, transfer(task_queue), task_queue=task_queue)
        return await handle.result()


async def test_transfer_posts_both_sides(env: WorkflowEnvironment, task_queue: str) -> None:
    shards = FakeShards()
    result = await run_transfer(env, task_queue, shards)
    assert result.status == TransferStatus.COMPLETED
    assert shards.holds == {"source": "posted", "destination": "posted"}


async def test_transfer_failing_halfway_voids_source(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    shards = FakeShards(fail_destination=True)
    result = await run_transfer(env, task_queue, shards)
    assert result.status == TransferStatus.FAILED
    assert result.last_error and "UnknownAccount" in result.last_error
    assert shards.holds == {"source": "voided"}
    assert ("post", "source") not in shards.calls
    # Compensations ran in reverse: the (never made) destination first, then the source.
    assert shards.calls[-2:] == [("void", "destination"), ("void", "source")]


async def test_post_refused_as_voided_ends_failed(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    shards = FakeShards(voided_at_post=True)
    result = await run_transfer(env, task_queue, shards)
    assert result.status == TransferStatus.FAILED
    assert result.last_error and "AlreadyVoided" in result.last_error
    assert shards.calls[-1] == ("post", "source")


# ------------------------------------------------- a rerun on the real ledger (defect 9)


@pytest.fixture
async def real_ledger(shard_dsns: list[str]) -> AsyncIterator[Ledger]:  # noqa: F811
    async with Ledger(shard_dsns) as opened:
        yield opened


async def test_rerun_of_a_voided_transfer_strands_nothing(
    env: WorkflowEnvironment, task_queue: str, real_ledger: Ledger
) -> None:
    """Run 1 fails on the destination and voids the source; the destination then appears
    and the transfer id runs again (a new workflow, e.g. once the first one's history is
    gone). The rerun must answer with the earlier outcome, not hold the destination."""
    source, destination = accounts_on_two_shards(real_ledger)
    await funded_source(real_ledger, source, 500)
    request = replace(transfer(task_queue), from_account=source, to_account=destination)
    activities = LedgerActivities(real_ledger)
    async with worker(env.client, task_queue, activities.activities()):
        handle, _ = await start_transfer(env.client, request, task_queue=task_queue)
        first = await handle.result()
        assert first.status == TransferStatus.FAILED
        await real_ledger.create_account(destination, "USD", "credit")
        rerun = await env.client.start_workflow(
            CrossShardTransferWorkflow.run,
            request,
            id=f"transfer-{request.transfer_id}-rerun",
            task_queue=task_queue,
        )
        second = await rerun.result()
    assert second.status == TransferStatus.FAILED
    assert second.last_error and "AlreadyVoided" in second.last_error
    assert await open_holds(real_ledger, request.transfer_id) == []
    balances = await real_ledger.get_balances(destination)
    assert (balances.posted, balances.pending) == (0, 0)
    assert (await real_ledger.get_balances(source)).available == 500
    report = await real_ledger.verify()
    assert report.ok, report.violations
