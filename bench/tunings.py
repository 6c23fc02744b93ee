"""Tunings of the payments benchmark (`python -m bench.payments --tune all`): short runs
of the payments alone, each variant against the default (ledger postings as activity
tasks, worker concurrency, sticky cache, eager start, SQLite pragmas).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.environment import BenchEnvironment, bench_environment
from bench.measure import GATEWAY_RATES, REMOTE_LEDGER, as_dict, measure, quiet
from paysaga.domain.routing import Routing


@dataclass(frozen=True)
class Variant:
    name: str
    why: str
    worker_env: dict[str, str] = field(default_factory=dict)
    routing: Routing | None = None
    sqlite_pragmas: tuple[str, ...] | None = None  # None: the same server as the default
    in_process_worker: bool = False
    eager_start: bool = False


VARIANTS: tuple[Variant, ...] = (
    Variant(
        "default",
        "as shipped: local ledger postings, 100 activity / workflow-task slots, 4000 cached",
    ),
    Variant(
        "remote_ledger",
        "ledger postings as activity tasks on the ledger queue (Routing(local_ledger=False))",
        routing=REMOTE_LEDGER,
    ),
    Variant(
        "concurrency_20",
        "20 activity and workflow-task slots per worker",
        {
            "PAYSAGA_WORKER_MAX_CONCURRENT_ACTIVITIES": "20",
            "PAYSAGA_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "20",
        },
    ),
    Variant(
        "concurrency_400",
        "400 activity and workflow-task slots per worker",
        {
            "PAYSAGA_WORKER_MAX_CONCURRENT_ACTIVITIES": "400",
            "PAYSAGA_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "400",
        },
    ),
    Variant(
        "no_sticky_cache",
        "max_cached_workflows=0: every workflow task replays the history",
        {"PAYSAGA_WORKER_MAX_CACHED_WORKFLOWS": "0"},
    ),
    Variant(
        "in_process_worker",
        "plus a workflow worker in the driver process (the control for eager_start)",
        in_process_worker=True,
    ),
    Variant(
        "eager_start",
        "in-process workflow worker and request_eager_start on every start",
        in_process_worker=True,
        eager_start=True,
    ),
    Variant(
        "sqlite_sync_off",
        "dev server SQLite synchronous=off (default: WAL, synchronous=normal)",
        sqlite_pragmas=("journal_mode=wal", "synchronous=off"),
    ),
    Variant(
        "sqlite_rollback_journal",
        "dev server SQLite journal_mode=delete, synchronous=full (SQLite's defaults)",
        sqlite_pragmas=("journal_mode=delete", "synchronous=full"),
    ),
)


def pick_variants(spec: str) -> list[Variant]:
    if spec == "all":
        return list(VARIANTS)
    wanted = {name.strip() for name in spec.split(",") if name.strip()} | {"default"}
    unknown = wanted - {v.name for v in VARIANTS}
    if unknown:
        raise SystemExit(f"unknown tuning(s) {sorted(unknown)}; have {[v.name for v in VARIANTS]}")
    return [v for v in VARIANTS if v.name in wanted]


def run_tunings(
    variants: Sequence[Variant], *, count: int, workers: int, shards: int, refund_share: float
) -> dict[str, dict[str, Any]]:
    """Each variant's payments alone (no baseline), on one stack unless it needs its own."""
    out: dict[str, dict[str, Any]] = {}
    same_server = [v for v in variants if v.sqlite_pragmas is None]
    own_server = [v for v in variants if v.sqlite_pragmas is not None]
    with bench_environment(
        workers=workers,
        shard_count=shards,
        worker_env=dict(GATEWAY_RATES),
        progress=False,
        with_api=False,
    ) as env:
        for variant in same_server:
            env.workers.restart_all({**GATEWAY_RATES, **variant.worker_env})
            out[variant.name] = _tuned(env, variant, count, refund_share)
    for variant in own_server:
        assert variant.sqlite_pragmas is not None
        with bench_environment(
            workers=workers,
            shard_count=shards,
            worker_env={**GATEWAY_RATES, **variant.worker_env},
            sqlite_pragmas=variant.sqlite_pragmas,
            progress=False,
            with_api=False,
        ) as env:
            out[variant.name] = _tuned(env, variant, count, refund_share)
    return out


def _tuned(env: BenchEnvironment, variant: Variant, count: int, share: float) -> dict[str, Any]:
    print(f"  tuning {variant.name}: {variant.why}", flush=True)
    figures = asyncio.run(
        measure(
            env,
            count=count,
            rate=0,
            refund_share=share,
            baseline=False,
            routing=variant.routing,
            eager_start=variant.eager_start,
            in_process_worker=variant.in_process_worker,
            say=quiet,
        )
    )
    return {"why": variant.why, **as_dict(figures)}


def print_tunings(tunings: dict[str, dict[str, Any]]) -> None:
    default = tunings.get("default", {}).get("payments", {})
    print(f"\n{'tuning':<26}{'payments/s':>11}{'vs default':>11}{'p99 s':>8}{'CPU s/pay':>11}")
    for name, figures in tunings.items():
        pay = figures["payments"]
        base = default.get("per_s") or math.nan
        print(
            f"{name:<26}{pay['per_s']:>11.1f}{pay['per_s'] / base:>11.2f}"
            f"{pay['p99_s']:>8.2f}{pay['cpu_s_per_item']:>11.4f}"
        )
