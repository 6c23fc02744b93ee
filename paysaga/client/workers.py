"""Who is polling which task queue (DescribeTaskQueue), for `paysaga workers`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from paysaga.domain.names import ALL_TASK_QUEUES

KINDS = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


@dataclass(frozen=True)
class Poller:
    task_queue: str
    kind: str  # workflow | activity
    identity: str
    last_access_at: datetime | None
    rate_per_second: float | None


async def _pollers(client: Client, queue: str, kind: str) -> list[Poller]:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=KINDS[kind],
        )
    )
    return [
        Poller(
            task_queue=queue,
            kind=kind,
            identity=poller.identity,
            last_access_at=poller.last_access_time.ToDatetime(tzinfo=UTC)
            if poller.HasField("last_access_time")
            else None,
            rate_per_second=poller.rate_per_second or None,
        )
        for poller in response.pollers
    ]


async def list_pollers(
    client: Client, queues: tuple[str, ...] | list[str] = ALL_TASK_QUEUES
) -> list[Poller]:
    """Every poller of every (queue, workflow|activity) pair, sorted by queue and identity."""
    results = await asyncio.gather(
        *(_pollers(client, queue, kind) for queue in queues for kind in KINDS)
    )
    flat = [poller for group in results for poller in group]
    return sorted(flat, key=lambda p: (p.task_queue, p.kind, p.identity))
