"""BaselineWorkflow: the benchmark's yardstick, a workflow with N no-op activities.

`python -m bench.payments` starts one per payment with the task queues a real payment's
activities were scheduled on (read from its history), run one after another as the
saga does, so our throughput can be stated as a ratio to what the server and workers
manage with the same activity count and no work in the activities.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.activity_names import BENCH_NOOP
    from workflows import policies


@dataclass(frozen=True)
class BaselineRequest:
    task_queues: tuple[str, ...]  # one no-op activity per entry, in this order


@workflow.defn(name="BaselineWorkflow")
class BaselineWorkflow:
    @workflow.run
    async def run(self, request: BaselineRequest) -> int:
        for step, task_queue in enumerate(request.task_queues):
            await workflow.execute_activity(
                BENCH_NOOP,
                step,
                task_queue=task_queue,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=policies.LEDGER_RETRY,
            )
        return len(request.task_queues)
