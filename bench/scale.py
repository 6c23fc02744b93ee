"""Scaling benchmark: `python -m bench.scale [--workers 1,2,4] [--shards 1,2,4] [--count N]`.

Runs the payments benchmark (bench.measure.measure, without the baseline) on a fresh
stack for every combination of worker processes and ledger shards, and prints
payments/s and worker memory per in-flight payment: (summed worker RSS at the peak of
the run - after the warm-up) / the most payments in flight at once. Every process of
the stack (Temporal dev server, PostgreSQL, sandboxes, workers, this driver) shares the
machine's cores, so past the point where they are busy, more workers or shards cannot
add throughput; the output says how many cores there were.

`--json FILE` writes the figures; `--plot FILE.png` draws them if matplotlib is
installed (`pip install paysaga[bench]`), and is skipped with a note otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

from bench.environment import bench_environment
from bench.measure import GATEWAY_RATES, BenchFigures, measure
from paysaga.config.logging import configure_logging

DEFAULT_PLOT = Path("docs/bench/scale.png")


def _ints(value: str) -> list[int]:
    return [int(part) for part in value.split(",") if part.strip()]


def scale(
    workers: list[int], shards: list[int], count: int, refund_share: float
) -> list[dict[str, Any]]:
    """One stack per shard count; the worker processes are restarted for each count."""
    cells: list[dict[str, Any]] = []
    for shard_count in shards:
        with bench_environment(
            workers=workers[0],
            shard_count=shard_count,
            worker_env=dict(GATEWAY_RATES),
            progress=False,
            with_api=False,
        ) as env:
            for index, worker_count in enumerate(workers):
                print(f"  {worker_count} worker(s), {shard_count} shard(s) ...", flush=True)
                if index:
                    env.workers.restart_all(count=worker_count)
                figures = asyncio.run(
                    measure(
                        env,
                        count=count,
                        rate=0,
                        refund_share=refund_share,
                        baseline=False,
                        say=lambda message: None,
                    )
                )
                cells.append(_cell(worker_count, shard_count, figures))
    return cells


def _cell(workers: int, shards: int, figures: BenchFigures) -> dict[str, Any]:
    return {
        "workers": workers,
        "shards": shards,
        "payments_per_s": figures.payments.per_s,
        "p99_s": figures.payments.p99_s,
        "cpu_s_per_payment": figures.payments.cpu_s_per_item,
        "peak_in_flight": figures.payments.peak_in_flight,
        "idle_rss_mb": figures.idle_rss_mb,
        "peak_rss_mb": figures.peak_rss_mb,
        "mb_per_in_flight": figures.mb_per_in_flight,
        "completed": figures.payments.completed,
        "lost": len(figures.lost),
    }


def print_table(cells: list[dict[str, Any]], cores: int) -> None:
    print(
        f"\n{'workers':>8}{'shards':>8}{'payments/s':>12}{'p99 s':>8}{'CPU s/pay':>11}"
        f"{'in flight':>11}{'MB/in-flight':>14}"
    )
    for c in cells:
        per = c["mb_per_in_flight"]
        print(
            f"{c['workers']:>8}{c['shards']:>8}{c['payments_per_s']:>12.1f}{c['p99_s']:>8.2f}"
            f"{c['cpu_s_per_payment']:>11.4f}{c['peak_in_flight']:>11}"
            f"{(f'{per:.3f}' if per is not None else '-'):>14}"
        )
    print(
        f"\n{cores} CPU core(s): the Temporal dev server, PostgreSQL, the gateway sandboxes, "
        "the workers and this driver all share them, so once they are busy more worker "
        "processes or shards add contention (and each worker its own ~100+ MB of Python) "
        "rather than throughput."
    )


def plot(cells: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'paysaga[bench]'); no plot drawn")
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for shard_count in sorted({c["shards"] for c in cells}):
        row = sorted((c for c in cells if c["shards"] == shard_count), key=lambda c: c["workers"])
        xs = [c["workers"] for c in row]
        label = f"{shard_count} shard(s)"
        left.plot(xs, [c["payments_per_s"] for c in row], marker="o", label=label)
        right.plot(xs, [c["mb_per_in_flight"] or 0 for c in row], marker="o", label=label)
    left.set(xlabel="worker processes", ylabel="payments/s", title="Throughput")
    right.set(xlabel="worker processes", ylabel="MB", title="Worker memory per in-flight payment")
    for ax in (left, right):
        ax.set_xticks(sorted({c["workers"] for c in cells}))
        ax.set_ylim(bottom=0)  # a flat line must look flat, not like a trend
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"paysaga bench.scale on {os.cpu_count()} cores")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--workers", type=_ints, default=[1, 2, 4])
    parser.add_argument("--shards", type=_ints, default=[1, 2, 4])
    parser.add_argument("--count", type=int, default=300, help="payments per combination")
    parser.add_argument("--refund-share", type=float, default=0.1)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--plot", type=Path, default=None, help=f"PNG, e.g. {DEFAULT_PLOT}")
    args = parser.parse_args(argv)
    configure_logging("console", "WARNING")
    cores = os.cpu_count() or 1
    print(f"{args.count} payments per combination, rate max, {cores} cores", flush=True)
    cells = scale(args.workers, args.shards, args.count, args.refund_share)
    print_table(cells, cores)
    out: dict[str, Any] = {"cores": cores, "count": args.count, "cells": cells}
    if args.plot and plot(cells, args.plot):
        out["plot"] = str(args.plot)
        print(f"plot: {args.plot}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
