"""A do-nothing activity: the baseline benchmark's stand-in for each payment activity.

Registered on every task queue a payment uses, so the baseline pays the same server,
queue and worker costs (polling, codec, history events) without gateway or ledger work.
"""

from __future__ import annotations

from temporalio import activity

from paysaga.domain.activity_names import BENCH_NOOP


@activity.defn(name=BENCH_NOOP)
async def noop(step: int) -> int:
    return step
