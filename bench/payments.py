"""Payments benchmark: `python -m bench.payments [--count 1000] [--rate 0] [--json FILE]`.

Starts an isolated embedded stack (bench.environment) and N worker processes, then in
one run on the same server and workers:

1. a sample of payments (warm-up), whose histories give the task queue of every activity
   a plain and a refunded payment of each gateway schedules;
2. the baseline: one BaselineWorkflow per payment with exactly those activities, doing
   nothing (workflows/baseline.py);
3. the payments through PaysagaClient, with a share refunded;
4. the baseline again. The dev server's SQLite grows and the machine may be shared, so a
   baseline taken only before the payments would favour it; the ratio uses the mean of
   the baselines before and after.

Both loads start at `--rate` per second, or as fast as the client can (rate 0, the
default), so the ratio compares capacities rather than the offered rate. Throughput is
completed / (last done - first start) on the server's clock. `--tune all` then runs
short variants (ledger postings as activity tasks, worker concurrency, sticky cache, SQLite
pragmas) and prints the effect of each against the default.

The gateway rate limits are raised for the benchmark (PAYSAGA_WORKER_*_RATE=500): the
defaults (25/s, Stripe test mode) would measure the limiter, not the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from bench.environment import bench_environment
from bench.measure import GATEWAY_RATES, REMOTE_LEDGER, BenchFigures, as_dict, measure
from bench.tunings import VARIANTS, pick_variants, print_tunings, run_tunings
from paysaga.config.logging import configure_logging


def print_figures(figures: BenchFigures) -> None:
    pay, base, after = figures.payments, figures.baseline, figures.baseline_after
    rows = [("baseline (no-op activities)", base), ("payments", pay), ("baseline again", after)]
    print(
        f"\n{figures.count} payments, {figures.workers} worker(s), {figures.shards} shard(s), "
        f"{figures.activities_per_payment} activities per payment, "
        f"rate {'max' if figures.rate <= 0 else f'{figures.rate:g}/s'}"
        + ("" if figures.local_ledger else ", ledger postings as activity tasks")
    )
    print(f"{'load':<30}{'per s':>8}{'p50 s':>8}{'p95 s':>8}{'p99 s':>8}{'CPU s/each':>12}")
    for name, run in rows:
        if run is None:
            continue
        print(
            f"{name:<30}{run.per_s:>8.1f}{run.p50_s:>8.2f}{run.p95_s:>8.2f}{run.p99_s:>8.2f}"
            f"{run.cpu_s_per_item:>12.4f}"
        )
    if figures.ratio is not None:
        verdict = "meets" if figures.ratio >= 0.7 else "misses"
        print(f"ratio payments / mean baseline: {figures.ratio:.2f} ({verdict} the 0.7 target)")
    print(
        f"worker memory: peak {figures.peak_worker_rss_mb:.0f} MB (largest process), "
        f"{figures.idle_rss_mb:.0f} MB idle -> {figures.peak_rss_mb:.0f} MB under load (all)"
    )
    if figures.cpu_by_process:
        names = list(next(iter(figures.cpu_by_process.values())))
        print("CPU s per item by process: " + "  ".join(f"{n:>9}" for n in names))
        for load, cpu in figures.cpu_by_process.items():
            print(f"  {load:<24}" + "  ".join(f"{cpu.get(n, 0.0):>9.4f}" for n in names))
    print(f"retried work (activity attempts, timed-out/failed tasks): {figures.retries}")
    if figures.lost:
        print(f"NOT DONE: {len(figures.lost)} payments, e.g. {figures.lost[:3]}")
    if figures.errors:
        print(f"client errors (retried): {len(figures.errors)}, e.g. {figures.errors[0]}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.payments", description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.0, help="starts per second; 0: max")
    parser.add_argument("--refund-share", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument(
        "--remote-ledger",
        action="store_true",
        help="payments post to the ledger with activity tasks, not local activities",
    )
    parser.add_argument(
        "--tune",
        default="",
        help="'all' or a comma list of variants to compare: " + ", ".join(v.name for v in VARIANTS),
    )
    parser.add_argument("--tune-count", type=int, default=300, help="payments per variant")
    args = parser.parse_args(argv)
    configure_logging("console", "WARNING")

    # The payments go through PaysagaClient directly: no HTTP API process needed.
    with bench_environment(
        workers=args.workers,
        shard_count=args.shards,
        worker_env=dict(GATEWAY_RATES),
        with_api=False,
    ) as env:
        figures = asyncio.run(
            measure(
                env,
                count=args.count,
                rate=args.rate,
                refund_share=args.refund_share,
                routing=REMOTE_LEDGER if args.remote_ledger else None,
            )
        )
    print_figures(figures)
    out: dict[str, Any] = {
        "gateway_rates": GATEWAY_RATES,
        **as_dict(figures),
    }
    if args.tune:
        print(f"\ntunings: {args.tune_count} payments each, rate max, no baseline")
        tunings = run_tunings(
            pick_variants(args.tune),
            count=args.tune_count,
            workers=args.workers,
            shards=args.shards,
            refund_share=args.refund_share,
        )
        print_tunings(tunings)
        out["tunings"] = tunings
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return out


if __name__ == "__main__":
    main()
