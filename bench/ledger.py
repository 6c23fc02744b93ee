"""Ledger benchmark: `python -m bench.ledger [--json FILE] [--clients N] [--seconds S] [--dsn ...]`.

Starts its own embedded PostgreSQL unless DSNs are given, then on the same server:
(1) pgbench TPC-B-like TPS at the same client count, (2) ledger transfers/s unbatched
across many accounts, (3) into one hot account, plain and striped, (4) batched at sizes
1, 10, 100, 1000, (5) p50/p99 latency per transfer; each printed as a ratio to (1).
Writes go through the public API (Ledger.post_entry / post_batch), synchronous_commit on.

With one shard it also measures the server's ceiling for single posts: ledger_post driven
by pgbench's C client (`unbatched_server_only`, the same entries and clients), and it
reports the Python client's CPU per transfer. Both share the machine's cores with the
server, so the two together say where the unbatched figure's time goes.

The machine may be shared, so one pgbench figure taken minutes before a phase can be far
from what the server could do during it. pgbench therefore runs between the phases too
(before the first, between each two, after the last), and each phase is compared with the
mean of the two runs around it; the acceptance checks use those adjacent ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

from bench.ledger_pgbench import (
    PgbenchResult,
    init_pgbench,
    ledger_post_script,
    run_pgbench,
    run_pgbench_script,
)
from ledger import AccountFlags, EntryRequest, Leg
from ledger.migrate import upgrade
from ledger.service import Ledger
from paysaga.stack.ports import free_port
from paysaga.stack.postgres import EmbeddedPostgres

BATCH_SIZES = (1, 10, 100, 1000)


@dataclass
class Phase:
    name: str
    transfers: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    pgbench_tps: float = 0.0  # mean of the pgbench runs just before and just after
    client_cpu_us: float | None = None  # this process's CPU per transfer (the Python client)

    @property
    def per_second(self) -> float:
        return self.transfers / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _request(key: str, debit: str, credit: str, amount: int) -> EntryRequest:
    return EntryRequest(
        idempotency_key=key,
        legs=(Leg(debit, "debit", amount, "USD"), Leg(credit, "credit", amount, "USD")),
        metadata={"payment_id": key},
    )


async def _drive(
    name: str,
    clients: int,
    seconds: float,
    step: Callable[[int, int], Awaitable[int]],
) -> Phase:
    """Run `step(client, i)` in a loop on every client until time is up."""
    phase = Phase(name, 0, 0.0)
    deadline = time.perf_counter() + seconds

    async def client(c: int) -> None:
        i = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            done = await step(c, i)  # not `+= await`: that reads the counter before awaiting
            phase.transfers += done
            phase.latencies_ms.append((time.perf_counter() - started) * 1000)
            i += 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client(c) for c in range(clients)))
    phase.seconds = time.perf_counter() - started
    if phase.transfers:
        phase.client_cpu_us = (time.process_time() - cpu) / phase.transfers * 1e6
    return phase


async def _accounts(
    ledger: Ledger, run: str, customers: int, merchants: int
) -> tuple[list[str], list[str]]:
    flag = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    cust = [f"customer:{run}:{i}:USD" for i in range(customers)]
    merch = [f"merchant_payable:{run}:{i}:USD" for i in range(merchants)]
    sem = asyncio.Semaphore(8)

    async def make(account_id: str, side: str, flags: AccountFlags) -> None:
        async with sem:
            await ledger.create_account(account_id, "USD", side, flags)  # type: ignore[arg-type]

    await asyncio.gather(*(make(a, "debit", AccountFlags.NONE) for a in cust))
    await asyncio.gather(*(make(a, "credit", flag) for a in merch))
    return cust, merch


async def ledger_phases(
    dsns: list[str], clients: int, seconds: float, yardstick: Callable[[], float]
) -> list[Phase]:
    """The ledger phases, with `yardstick()` (a pgbench run, in TPS) around each of them."""
    run = uuid.uuid4().hex[:6]
    phases: list[Phase] = []
    sticks: list[float] = []

    async def measured(phase: Callable[[], Awaitable[Phase]]) -> None:
        sticks.append(await asyncio.to_thread(yardstick))
        phases.append(await phase())

    async with Ledger(dsns, pool_min=clients, pool_max=clients) as ledger:
        customers, merchants = await _accounts(ledger, run, 2000, 200)
        rng = random.Random(7)

        def many(tag: str) -> Callable[[int, int], Awaitable[int]]:
            async def step(c: int, i: int) -> int:
                debit, credit = rng.choice(customers), rng.choice(merchants)
                await ledger.post_entry(_request(f"{run}:{tag}:{c}:{i}", debit, credit, 100))
                return 1

            return step

        await _drive("warmup", clients, min(2.0, seconds), many("warmup"))
        await measured(partial(_drive, "unbatched_many_accounts", clients, seconds, many("many")))
        if len(dsns) == 1:  # the script names accounts, so it needs them all on its shard

            async def server_only() -> Phase:
                script = ledger_post_script(run, len(customers), len(merchants))
                secs = max(1, int(seconds))
                result = await asyncio.to_thread(run_pgbench_script, dsns[0], script, clients, secs)
                return Phase("unbatched_server_only", round(result.tps * secs), secs)

            await measured(server_only)

        for hot in (False, True):
            target = f"merchant_payable:{run}:{'striped' if hot else 'plain'}:USD"
            await ledger.create_account(
                target,
                "USD",
                "credit",
                AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
                hot=hot,
                stripes=32,
            )

            async def one_hot(c: int, i: int, target: str = target, tag: str = str(hot)) -> int:
                await ledger.post_entry(
                    _request(f"{run}:hot{tag}:{c}:{i}", rng.choice(customers), target, 100)
                )
                return 1

            name = f"hot_account_{'striped' if hot else 'plain'}"
            await measured(partial(_drive, name, clients, seconds, one_hot))

        for size in BATCH_SIZES:

            async def batch(c: int, i: int, size: int = size) -> int:
                requests = [
                    _request(
                        f"{run}:b{size}:{c}:{i}:{n}",
                        rng.choice(customers),
                        rng.choice(merchants),
                        100,
                    )
                    for n in range(size)
                ]
                await ledger.post_batch(requests)
                return size

            name = f"batch_{size}"
            await measured(partial(_drive, name, clients, seconds, batch))
        sticks.append(await asyncio.to_thread(yardstick))
        for i, phase in enumerate(phases):
            phase.pgbench_tps = (sticks[i] + sticks[i + 1]) / 2
        report = await ledger.verify()
        if not report.ok:
            raise RuntimeError(f"ledger verify failed after the benchmark: {report.first}")
    return phases


def _start_embedded(root: Path) -> tuple[EmbeddedPostgres, list[str], str]:
    server = EmbeddedPostgres(root, free_port())
    server.start()
    return (
        server,
        [server.ensure_database("bench_ledger_0")],
        server.ensure_database("bench_pgbench"),
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger", description=__doc__)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0, help="per measured phase")
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale factor")
    parser.add_argument(
        "--dsn",
        action="append",
        default=[],
        help="ledger shard DSN (repeat); pgbench uses the first",
    )
    args = parser.parse_args(argv)

    server = None
    tmp = tempfile.TemporaryDirectory(prefix="paysaga-bench-")
    try:
        if args.dsn:
            dsns, pgbench_dsn = list(args.dsn), args.dsn[0]
        else:
            server, dsns, pgbench_dsn = _start_embedded(Path(tmp.name))
        for dsn in dsns:
            upgrade(dsn)
        with psycopg.connect(dsns[0]) as conn:
            row = conn.execute("SELECT current_setting('synchronous_commit')").fetchone()
        sync_commit = row[0] if row else "?"
        print(f"pgbench TPC-B-like, {args.clients} clients, scale {args.scale} ...", flush=True)
        init_pgbench(pgbench_dsn, args.scale)
        runs: list[PgbenchResult] = []

        def yardstick() -> float:
            result = run_pgbench(
                pgbench_dsn, args.clients, max(1, int(args.seconds)), args.scale, initialise=False
            )
            runs.append(result)
            print(f"  pgbench {result.tps:,.0f} TPS", flush=True)
            return result.tps

        phases = asyncio.run(ledger_phases(dsns, args.clients, args.seconds, yardstick))
        pgb = replace(runs[0], tps=statistics.fmean(r.tps for r in runs))
    finally:
        if server is not None:
            server.stop(mode="fast")
        tmp.cleanup()

    figures: dict[str, Any] = {
        "clients": args.clients,
        "seconds_per_phase": args.seconds,
        "synchronous_commit": sync_commit,
        "pgbench": asdict(pgb),
        "pgbench_runs_tps": [round(r.tps, 1) for r in runs],
        "phases": {},
    }
    print(
        f"\n{'phase':<28}{'transfers/s':>14}{'pgbench':>10}{'x pgbench':>11}{'x mean':>8}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'client us':>11}"
    )
    print(f"{'pgbench tpc-b-like (mean)':<28}{pgb.tps:>14,.0f}{pgb.tps:>10,.0f}{1.0:>11.2f}")
    for phase in phases:
        ratio = phase.per_second / phase.pgbench_tps if phase.pgbench_tps else 0.0
        ratio_mean = phase.per_second / pgb.tps if pgb.tps else 0.0
        p50, p99 = phase.percentile(0.50), phase.percentile(0.99)
        figures["phases"][phase.name] = {
            "transfers_per_second": round(phase.per_second, 1),
            "pgbench_tps_adjacent": round(phase.pgbench_tps, 1),
            "ratio_to_pgbench": round(ratio, 3),
            "ratio_to_pgbench_mean": round(ratio_mean, 3),
            "p50_ms": round(p50, 3) if p50 is not None else None,
            "p99_ms": round(p99, 3) if p99 is not None else None,
            "transfers": phase.transfers,
            "seconds": round(phase.seconds, 2),
            "client_cpu_us_per_transfer": round(phase.client_cpu_us, 1)
            if phase.client_cpu_us is not None
            else None,
        }
        print(
            f"{phase.name:<28}{phase.per_second:>14,.0f}{phase.pgbench_tps:>10,.0f}{ratio:>11.2f}"
            f"{ratio_mean:>8.2f}{p50 or 0:>9.2f}{p99 or 0:>9.2f}"
            f"{phase.client_cpu_us or 0:>11.0f}"
        )
    ratios = {name: f["ratio_to_pgbench"] for name, f in figures["phases"].items()}
    figures["checks"] = {
        "unbatched_ge_0_8_pgbench": ratios["unbatched_many_accounts"] >= 0.8,
        # Both as ratios to their own adjacent pgbench, so load that came and went between
        # the two phases does not decide the check.
        "hot_striped_ge_0_5_many": ratios["hot_account_striped"]
        >= 0.5 * ratios["unbatched_many_accounts"],
        "batch_1000_ge_5_pgbench": ratios["batch_1000"] >= 5,
    }
    print(f"\nacceptance: {json.dumps(figures['checks'])}")
    print(f"median latency unbatched: {statistics.median(phases[0].latencies_ms):.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
