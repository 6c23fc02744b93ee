"""The baseline load: BaselineWorkflows with a payment's activity count, doing nothing.

Started like the payments (same rate, same server, same workers, same task queues per
activity); their start and close times come from one visibility listing afterwards.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from bench.load import START_WIDTH, Interval, peak_overlap, percentiles, span_s
from paysaga.domain.names import CUSTOMER_ID, PAYMENTS_TASK_QUEUE
from workflows.baseline import BaselineRequest, BaselineWorkflow


@dataclass
class BaselineResult:
    run_id: str
    count: int
    completed: int
    wall_s: float
    intervals: list[Interval] = field(default_factory=list)
    activities: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def span_s(self) -> float:
        return span_s(self.intervals)

    @property
    def throughput_per_s(self) -> float:
        span = self.span_s
        return self.completed / span if span else 0.0

    def latency_percentiles(self) -> dict[str, float]:
        return percentiles(
            [(b - a).total_seconds() for a, b in self.intervals if a is not None and b is not None]
        )

    def peak_in_flight(self) -> int:
        return peak_overlap(self.intervals)


async def run_baseline_load(
    temporal: Client,
    queue_plans: Sequence[tuple[str, ...]],
    *,
    rate: float,
    task_queue: str = PAYMENTS_TASK_QUEUE,
    timeout_s: float = 600,
    poll_s: float = 0.5,
    on_tick: Callable[[int, int], None] | None = None,
) -> BaselineResult:
    """One BaselineWorkflow per entry of `queue_plans` (its activities' task queues)."""
    run_id = uuid.uuid4().hex[:10]
    tag = f"baseline-{run_id}"  # a CustomerId, so visibility can count this run alone
    count = len(queue_plans)
    errors: list[str] = []
    gate = asyncio.Semaphore(START_WIDTH if rate <= 0 or math.isinf(rate) else count or 1)
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def start(index: int, queues: tuple[str, ...]) -> None:
        if rate > 0:
            delay = began + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        async with gate:
            for attempt in range(20):
                try:
                    await temporal.start_workflow(
                        BaselineWorkflow.run,
                        BaselineRequest(task_queues=queues),
                        id=f"{tag}-{index}",
                        task_queue=task_queue,
                        search_attributes=TypedSearchAttributes(
                            [SearchAttributePair(CUSTOMER_ID, tag)]
                        ),
                    )
                    return
                except Exception as exc:  # counted and reported; the id makes it safe
                    errors.append(f"start {tag}-{index} attempt {attempt}: {exc!r}")
                    await asyncio.sleep(min(2.0, 0.1 * 2**attempt))

    starters = asyncio.gather(*(start(i, q) for i, q in enumerate(queue_plans)))
    done_query = f"CustomerId = '{tag}' AND ExecutionStatus = 'Completed'"
    completed = 0
    try:
        while True:
            await asyncio.sleep(poll_s)
            completed = (await temporal.count_workflows(done_query)).count
            if on_tick:
                on_tick(completed, count)
            if completed >= count and starters.done():
                break
            if loop.time() > began + timeout_s:
                errors.append(f"timed out with {count - completed} baselines not done")
                break
    finally:
        await starters
    wall = loop.time() - began
    intervals: list[Interval] = []
    async for execution in temporal.list_workflows(f"CustomerId = '{tag}'", page_size=1000):
        if execution.status == WorkflowExecutionStatus.COMPLETED:
            intervals.append((_naive(execution.start_time), _naive(execution.close_time)))
    activities = sum(len(q) for q in queue_plans)
    return BaselineResult(run_id, count, len(intervals), wall, intervals, activities, errors)


def _naive(when: datetime | None) -> datetime | None:
    """UTC without tzinfo, like the history timestamps the payment side reads."""
    return when.replace(tzinfo=None) if when is not None and when.tzinfo else when
