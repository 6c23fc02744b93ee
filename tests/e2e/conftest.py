"""Helpers to run the `paysaga` command against an isolated stack (own ports, own data dir)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from paysaga.stack.ports import PORT_SETTINGS, free_port
from paysaga.stack.processes import process_alive
from paysaga.stack.stack import read_state, state_pids


class PaysagaRunner:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSAGA_")}
        self.env.update({name: str(free_port()) for name in PORT_SETTINGS})
        self.env["PAYSAGA_DATA_DIR"] = str(data_dir)
        self.env["PAYSAGA_LOG_FORMAT"] = "json"

    def port(self, name: str) -> int:
        return int(self.env[name])

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "paysaga.cli", *args]

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            env=self.env,
            cwd=self.data_dir.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            env=self.env,
            cwd=self.data_dir.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def stack_pids(self) -> list[int]:
        return state_pids(read_state(self.data_dir) or {})

    def postgres_pid(self) -> int | None:
        pid_file = self.data_dir / "postgres" / "pgdata" / "postmaster.pid"
        if not pid_file.exists():
            return None
        return int(pid_file.read_text().splitlines()[0])


def alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if process_alive(pid)]


@pytest.fixture
def paysaga(tmp_path: Path) -> Iterator[PaysagaRunner]:
    runner = PaysagaRunner(tmp_path / ".paysaga")
    try:
        yield runner
    finally:
        runner.run("down", timeout=120)
