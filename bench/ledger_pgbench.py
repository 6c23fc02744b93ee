"""pgbench's built-in TPC-B-like run, as the yardstick for the ledger benchmark."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from stack.binaries import postgres_bin_dir


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    clients: int
    scale: int
    seconds: int
    protocol: str
    latency_ms: float | None


def _run(args: list[str], timeout: float) -> str:
    result = subprocess.run(
        [str(postgres_bin_dir() / "pgbench"), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
    )
    if result.returncode != 0:
        raise RuntimeError(f"pgbench failed: {result.stderr.strip()[-500:]}")
    return result.stdout + result.stderr


def init_pgbench(dsn: str, scale: int) -> None:
    _run(["-i", "-q", "-s", str(scale), dsn], timeout=600)


def run_pgbench(
    dsn: str, clients: int, seconds: int, scale: int, *, initialise: bool = True
) -> PgbenchResult:
    """Run TPC-B-like with prepared statements, as pgbench's best (initialising first unless
    told the tables are there)."""
    if initialise:
        init_pgbench(dsn, scale)
    out = _run(
        [
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(seconds),
            dsn,
        ],
        timeout=seconds + 120,
    )
    match = re.search(r"tps = ([0-9.]+)", out)
    if not match:
        raise RuntimeError(f"no tps in pgbench output: {out[-500:]}")
    latency = re.search(r"latency average = ([0-9.]+) ms", out)
    return PgbenchResult(
        tps=float(match.group(1)),
        clients=clients,
        scale=scale,
        seconds=seconds,
        protocol="prepared",
        latency_ms=float(latency.group(1)) if latency else None,
    )
