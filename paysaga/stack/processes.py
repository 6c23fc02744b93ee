"""Child processes of the stack: start in their own process group, stop the whole group.

Each service runs `python -m <module> ...` from the same interpreter, logs to a file
under the data dir, and is ready when its TCP port (or custom check) answers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from paysaga.domain.errors import ConfigurationError
from paysaga.stack.ports import port_in_use
from paysaga.stack.private_files import PRIVATE_UMASK, open_private_append, private_dir


@dataclass
class ServiceSpec:
    name: str
    module: str
    args: list[str]
    ports: dict[str, int] = field(default_factory=dict)  # setting name -> port it must bind
    ready: Callable[[], bool] | None = None
    env: dict[str, str] = field(default_factory=dict)
    stop_timeout: float = 20.0

    def argv(self) -> list[str]:
        return [sys.executable, "-m", self.module, *self.args]


@dataclass
class RunningService:
    spec: ServiceSpec
    process: subprocess.Popen[bytes]
    log_file: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def start_service(spec: ServiceSpec, log_dir: Path, timeout: float = 60) -> RunningService:
    for setting, port in spec.ports.items():
        if port_in_use(port):
            raise ConfigurationError(
                f"port {port} for the {spec.name} is already taken; set {setting} to a free port",
                field=setting,
            )
    private_dir(log_dir)
    log_file = log_dir / f"{spec.name}.log"
    env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
    with open_private_append(log_file) as log:
        process = subprocess.Popen(
            spec.argv(),
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            umask=PRIVATE_UMASK,  # whatever the service writes stays owner-only
        )
    running = RunningService(spec, process, log_file)
    deadline = time.monotonic() + timeout
    while not _is_ready(spec):
        if process.poll() is not None:
            tail = log_file.read_text(errors="replace")[-1500:]
            raise ConfigurationError(
                f"{spec.name} exited with code {process.returncode} while starting; "
                f"last log lines:\n{tail}",
                field=spec.name,
            )
        if time.monotonic() > deadline:
            stop_process_group(process.pid, 5)
            raise ConfigurationError(
                f"{spec.name} was not ready within {timeout:.0f}s (see {log_file})", field=spec.name
            )
        time.sleep(0.2)
    if process.poll() is not None:  # answered, then died (or another process answered)
        raise ConfigurationError(
            f"{spec.name} exited with code {process.returncode} right after starting "
            f"(see {log_file})",
            field=spec.name,
        )
    return running


def _is_ready(spec: ServiceSpec) -> bool:
    if spec.ready is not None:
        return spec.ready()
    return all(port_in_use(port) for port in spec.ports.values())


def process_alive(pid: int) -> bool:
    """True while the process runs; a zombie (exited, not yet reaped) counts as gone."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)  # reap our own child if it exited
        if done == pid:
            return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def stop_process_group(pid: int, timeout: float) -> None:
    """SIGTERM the group (graceful drain), then SIGKILL what is left after `timeout`."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid) and not _group_alive(pgid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in the process group."""
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False
