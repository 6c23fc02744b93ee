"""pgbench's built-in TPC-B-like run, as the yardstick for the ledger benchmark."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from paysaga.stack.binaries import postgres_bin_dir


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
    return _timed_run(dsn, [], clients, seconds, scale)


def _timed_run(dsn: str, extra: list[str], clients: int, seconds: int, scale: int) -> PgbenchResult:
    """A timed pgbench run with prepared statements, `extra` before the connection string."""
    out = _run(
        [
            "-n",
            "-M",
            "prepared",
            *extra,
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


def ledger_post_script(run: str, customers: int, merchants: int) -> str:
    """A pgbench script posting what the unbatched phase posts (one customer to one
    merchant, 100 minor units, a fresh key, payment metadata) through ledger_post itself.
    Driven by pgbench's C client, it gives the server's ceiling for single posts."""

    def account(prefix: str, count: int) -> str:
        # No ':' in the script: pgbench would read ':name' as one of its variables.
        return f"concat_ws(chr(58), '{prefix}', '{run}', floor(random() * {count})::int, 'USD')"

    def leg(acc: str, direction: str) -> str:
        return f"jsonb_build_object('a', {acc}, 'd', '{direction}', 'n', 100, 'c', 'USD')"

    return (
        "SELECT ledger_post(jsonb_build_object("
        "'key', gen_random_uuid()::text, 'hash', md5(random()::text), 'kind', 'standard',"
        " 'metadata', jsonb_build_object('payment_id', gen_random_uuid()::text),"
        f" 'legs', jsonb_build_array({leg(account('customer', customers), 'debit')},"
        f" {leg(account('merchant_payable', merchants), 'credit')})));\n"
    )


def run_pgbench_script(dsn: str, script: str, clients: int, seconds: int) -> PgbenchResult:
    """Run a custom script (prepared statements, no pgbench tables needed)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    path = Path(handle.name)
    path.chmod(0o644)  # pgbench may run as the PostgreSQL user
    try:
        return _timed_run(dsn, ["-f", str(path)], clients, seconds, scale=0)
    finally:
        path.unlink(missing_ok=True)
