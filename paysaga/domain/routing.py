"""Where a workflow sends its activities: task queues per gateway, local ledger postings.

Temporal's default converter (de)serialises these by type hints, so every field is
typed precisely: ints for money, tuples for sequences, datetimes in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

from paysaga.domain.names import GATEWAYS_TASK_QUEUE, LEDGER_TASK_QUEUE

KNOWN_GATEWAYS: tuple[str, ...] = ("stripe", "braintree")


def gateway_task_queue(gateway: str, base: str = GATEWAYS_TASK_QUEUE) -> str:
    """One task queue per gateway, so each gets its own server-side rate limit."""
    return f"{base}-{gateway}"


@dataclass(frozen=True)
class Routing:
    """Where a workflow sends its activities. Tests route everything to one fresh queue."""

    gateways: str = GATEWAYS_TASK_QUEUE
    ledger: str = LEDGER_TASK_QUEUE
    per_gateway: bool = True
    # True: ledger postings (short, idempotent database writes) run as local activities in
    # the worker that runs the workflow, which therefore hosts the ledger (every `--queue
    # payments` worker does); a task queue round trip less per posting. New work gets
    # DEFAULT_ROUTING (True). The field's own default stays False: it is what a recorded
    # input without the field meant, so those workflows replay as they ran.
    local_ledger: bool = False

    @classmethod
    def single(cls, task_queue: str) -> Routing:
        return cls(gateways=task_queue, ledger=task_queue, per_gateway=False)

    def gateway_queue(self, gateway: str | None) -> str:
        if gateway and self.per_gateway:
            return gateway_task_queue(gateway, self.gateways)
        return self.gateways


# What clients start new payments, onboardings and transfers with. Ledger postings are
# activity tasks, not local activities: when a local activity's result lands in the
# workflow task after the one that recorded its marker (a race in the worker, seen in
# one demo of five), a replay resolves it a task early, before the server's notice of
# the patch markers that follow: `workflow.patched` answers False there, and the
# replay fails as non-deterministic (a status query, a worker restart: the payment is
# stuck). tests/replay/test_replay_local_activity.py keeps such a history. Local
# postings stay available (Routing(local_ledger=True)) for workflows without patches
# after a posting; bench.tunings measures both.
DEFAULT_ROUTING = Routing(local_ledger=False)
