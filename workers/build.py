"""build_workers: the Temporal workers of one process, reusable by tests, `paysaga up`
and benchmarks.

- payments: every workflow, on PAYMENTS_TASK_QUEUE.
- gateways: route + Plaid on GATEWAYS_TASK_QUEUE, and one worker per card gateway on its
  own queue (`paysaga-gateways-stripe`, ...) whose server-side rate limit
  (max_task_queue_activities_per_second) holds across all processes.
- ledger: ledger and reconciliation activities on LEDGER_TASK_QUEUE.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from temporalio.client import Client
from temporalio.worker import Worker

from activities.bank_accounts import BankAccountActivities
from activities.gateway import GatewayActivities
from activities.ledger import LedgerActivities
from activities.logging import LoggingInterceptor
from activities.noop import noop
from activities.plaid import PlaidActivities
from activities.reconciliation import ReconciliationActivities
from activities.sweep import SweepGatewayActivities, SweepLedgerActivities
from paysaga.config.settings import Settings
from paysaga.domain.names import GATEWAYS_TASK_QUEUE, LEDGER_TASK_QUEUE, PAYMENTS_TASK_QUEUE
from paysaga.domain.routing import gateway_task_queue
from workers.deps import Dependencies
from workers.registry import BENCH_WORKFLOWS, WORKFLOWS, workflow_runner
from workers.settings import WorkerSettings

QUEUE_KINDS: Final = ("payments", "gateways", "ledger")


@dataclass(frozen=True)
class QueueNames:
    """Task queue names; tests use their own fresh ones (matching a workflow's Routing)."""

    payments: str = PAYMENTS_TASK_QUEUE
    gateways: str = GATEWAYS_TASK_QUEUE
    ledger: str = LEDGER_TASK_QUEUE


def parse_queues(value: str) -> tuple[str, ...]:
    if value == "all":
        return QUEUE_KINDS
    kinds = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [k for k in kinds if k not in QUEUE_KINDS]
    if unknown or not kinds:
        raise ValueError(f"--queue takes payments, gateways, ledger or all; got {value!r}")
    return kinds


def build_workers(
    client: Client,
    settings: Settings,
    queues: Iterable[str],
    deps: Dependencies,
    *,
    worker_settings: WorkerSettings | None = None,
    names: QueueNames | None = None,
) -> list[Worker]:
    tuning = worker_settings or WorkerSettings()
    names = names or QueueNames()
    kinds = set(queues)
    common = {
        "graceful_shutdown_timeout": timedelta(seconds=tuning.graceful_shutdown_s),
        "interceptors": [LoggingInterceptor()],
    }

    def worker(task_queue: str, activities: list[Callable[..., object]], **kw: object) -> Worker:
        return Worker(
            client,
            task_queue=task_queue,
            activities=activities,
            max_concurrent_activities=tuning.max_concurrent_activities,
            **common,  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )

    # One instance per process: its chart caches account ids.
    ledger_acts = LedgerActivities(deps.ledger).activities() if deps.ledger else []
    workers: list[Worker] = []
    if "payments" in kinds:
        assert deps.ledger is not None, "payments workers run ledger postings: open the Ledger"
        # Ledger activities ride along so payments routed with local_ledger=True (the
        # default) run their postings as local activities (no task round trip).
        workers.append(
            Worker(
                client,
                task_queue=names.payments,
                workflows=WORKFLOWS + BENCH_WORKFLOWS,
                workflow_runner=workflow_runner(),
                activities=ledger_acts,
                max_concurrent_workflow_tasks=tuning.max_concurrent_workflow_tasks,
                max_concurrent_local_activities=tuning.max_concurrent_activities,
                max_cached_workflows=tuning.max_cached_workflows,
                **common,  # type: ignore[arg-type]
            )
        )
    if "gateways" in kinds:
        gateway_acts = GatewayActivities(deps.gateways, search_lags=settings.search_lag_bounds())
        sweep_acts = SweepGatewayActivities(deps.gateways).activities()
        generic = gateway_acts.activities() + sweep_acts
        if deps.plaid and deps.secrets and "stripe" in deps.gateways:
            stripe = deps.gateways["stripe"]
            plaid = PlaidActivities(
                deps.plaid,
                deps.secrets,
                stripe,  # type: ignore[arg-type]
                webhook=settings.plaid_webhook(),
                redirect_uri=settings.plaid_redirect_uri or None,
            )
            generic += plaid.activities()
        if deps.bank_accounts is not None:
            generic += BankAccountActivities(deps.bank_accounts).activities()
        workers.append(worker(names.gateways, [*generic, noop]))
        live = settings.stripe_api_key.get_secret_value().startswith("sk_live_")
        for gateway in deps.gateways:
            workers.append(
                worker(
                    gateway_task_queue(gateway, names.gateways),
                    [*gateway_acts.activities(), *sweep_acts, noop],
                    max_task_queue_activities_per_second=tuning.gateway_rate(gateway, live),
                )
            )
    if "ledger" in kinds:
        assert deps.ledger is not None, "ledger workers need an open Ledger"
        recon = ReconciliationActivities(deps.ledger, deps.report_dsn).activities()
        sweep = SweepLedgerActivities(deps.ledger, client, deps.report_dsn).activities()
        workers.append(worker(names.ledger, [*ledger_acts, *recon, *sweep, noop]))
    return workers
