"""An isolated embedded stack for a benchmark run, with worker processes we can measure,
SIGKILL and restart.

The stack (PostgreSQL shards, Temporal dev server, sandboxes, API, codec server) comes
from `stack.Stack` on free ports in its own data dir, so a benchmark never touches the
developer's `.paysaga/`. Workers are started here rather than by the stack, because the
benchmarks vary their number and kill them.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from paysaga.config.settings import Settings, load_settings
from paysaga.stack.ports import PORT_SETTINGS, free_port
from paysaga.stack.processes import RunningService, ServiceSpec, start_service, stop_process_group
from paysaga.stack.stack import Stack
from paysaga.stack.temporal import DEFAULT_SQLITE_PRAGMAS

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_peak_rss_bytes(pid: int) -> int:
    """High-water resident set size (VmHWM) of a live process (0 once it is gone)."""
    return _status_bytes(pid, "VmHWM:")


def process_rss_bytes(pid: int) -> int:
    """Resident set size now (VmRSS) of a live process (0 once it is gone)."""
    return _status_bytes(pid, "VmRSS:")


def _status_bytes(pid: int, key: str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for line in status.splitlines():
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class WorkerProcess:
    """One `python -m workers` process; remembers what its earlier lives cost."""

    index: int
    service: RunningService
    cpu_of_dead_lives: float = 0.0
    peak_rss_bytes: int = 0
    kills: int = 0

    @property
    def pid(self) -> int:
        return self.service.pid

    def sample(self) -> float:
        """CPU so far (all lives), updating the memory high-water mark."""
        self.peak_rss_bytes = max(self.peak_rss_bytes, process_peak_rss_bytes(self.pid))
        return self.cpu_of_dead_lives + process_cpu_seconds(self.pid)


@dataclass
class WorkerPool:
    """Worker processes of one benchmark run, each polling every queue."""

    data_dir: Path
    queue: str = "all"
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    processes: list[WorkerProcess] = field(default_factory=list)

    def _spec(self, index: int) -> ServiceSpec:
        return ServiceSpec(
            f"worker-{index}",
            "workers",
            ["--queue", self.queue, *self.extra_args],
            env=dict(self.env),
            ready=lambda: True,
            stop_timeout=30,
        )

    def _launch(self, index: int) -> RunningService:
        service = start_service(self._spec(index), self.data_dir / "logs")
        _wait_for_log(service, "workers.started", timeout_s=60)
        return service

    def start(self, count: int) -> None:
        for index in range(len(self.processes), len(self.processes) + count):
            self.processes.append(WorkerProcess(index, self._launch(index)))

    def kill(self, index: int) -> None:
        """SIGKILL: no drain, no goodbye; in-flight activities time out and are retried."""
        worker = self.processes[index]
        worker.cpu_of_dead_lives += process_cpu_seconds(worker.pid)
        worker.peak_rss_bytes = max(worker.peak_rss_bytes, process_peak_rss_bytes(worker.pid))
        os.killpg(worker.pid, signal.SIGKILL)
        worker.service.process.wait()
        worker.kills += 1

    def restart(self, index: int) -> None:
        self.processes[index].service = self._launch(index)

    def cpu_seconds(self) -> float:
        return sum(worker.sample() for worker in self.processes)

    def peak_rss_bytes(self) -> int:
        for worker in self.processes:
            worker.sample()
        return max((w.peak_rss_bytes for w in self.processes), default=0)

    def rss_bytes(self) -> int:
        """Resident memory of all worker processes now (summed)."""
        return sum(process_rss_bytes(worker.pid) for worker in self.processes)

    def restart_all(self, env: dict[str, str] | None = None, count: int | None = None) -> None:
        """Stop every worker and start `count` (default: as many) with a new env."""
        count = len(self.processes) if count is None else count
        self.stop()
        if env is not None:
            self.env = dict(env)
        self.start(count)

    def stop(self) -> None:
        for worker in self.processes:
            stop_process_group(worker.pid, worker.service.spec.stop_timeout)
        self.processes.clear()


def _wait_for_log(service: RunningService, marker: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    start = service.log_file.stat().st_size if service.log_file.exists() else 0
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.spec.name} exited; see {service.log_file}")
        with service.log_file.open("rb") as log:
            log.seek(start)
            if marker.encode() in log.read():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{service.spec.name} did not log {marker} within {timeout_s:.0f}s")


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process, its live descendants and the children it has reaped (a
    PostgreSQL server's backends come and go with their connections)."""
    import psutil

    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            try:
                child_times = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += child_times.user + child_times.system
    except psutil.NoSuchProcess:
        return 0.0
    return total


@dataclass
class BenchEnvironment:
    settings: Settings
    stack: Stack
    workers: WorkerPool

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def stack_pids(self) -> dict[str, int]:
        """The stack's own processes (not the workers) by name."""
        pids = {service.spec.name: service.pid for service in self.stack.services}
        if self.stack.temporal and self.stack.temporal.process:
            pids["temporal"] = self.stack.temporal.process.pid
        if self.stack.postgres:
            pid_file = self.stack.postgres.pgdata / "postmaster.pid"
            if pid_file.exists():
                pids["postgres"] = int(pid_file.read_text().split()[0])
        return pids

    def cpu_seconds_by_process(self) -> dict[str, float]:
        """CPU so far of the workers and of every stack process, to see where time goes."""
        out = {name: tree_cpu_seconds(pid) for name, pid in self.stack_pids().items()}
        out["workers"] = self.workers.cpu_seconds()
        return out


def isolate_settings(data_dir: Path, shard_count: int) -> Settings:
    """Free ports and an own data dir, exported so every child process resolves the same."""
    os.environ["PAYSAGA_DATA_DIR"] = str(data_dir)
    os.environ["PAYSAGA_SHARD_COUNT"] = str(shard_count)
    os.environ.setdefault("PAYSAGA_LOG_FORMAT", "json")
    for name in PORT_SETTINGS:
        os.environ[name] = str(free_port())
    return load_settings()


@contextmanager
def bench_environment(
    *,
    workers: int = 1,
    shard_count: int = 2,
    worker_args: list[str] | None = None,
    worker_env: dict[str, str] | None = None,
    data_dir: Path | None = None,
    progress: bool = True,
    sqlite_pragmas: tuple[str, ...] = DEFAULT_SQLITE_PRAGMAS,
    with_api: bool = True,
) -> Iterator[BenchEnvironment]:
    """Start an isolated stack and `workers` worker processes; stop all of it afterwards."""
    with tempfile.TemporaryDirectory(prefix="paysaga-bench-") as scratch:
        root = data_dir or Path(scratch) / ".paysaga"
        settings = isolate_settings(root, shard_count)
        say = (lambda message: print(f"  … {message}", flush=True)) if progress else _quiet
        stack = Stack(
            settings,
            with_workers=False,
            with_api=with_api,
            progress=say,
            sqlite_pragmas=sqlite_pragmas,
        )
        stack.up()
        pool = WorkerPool(root, extra_args=worker_args or [], env=worker_env or {})
        try:
            say(f"starting {workers} worker process(es)")
            pool.start(workers)
            yield BenchEnvironment(settings, stack, pool)
        except BaseException:
            _report_exited_services(stack, pool)
            raise
        finally:
            pool.stop()
            stack.down()


def _report_exited_services(stack: Stack, pool: WorkerPool) -> None:
    """A failed run says which of its processes died and why (their logs go with the
    scratch dir)."""
    running = [*stack.services, *(worker.service for worker in pool.processes)]
    for service in running:
        code = service.process.poll()
        if code is None:
            continue
        tail = (
            service.log_file.read_text(errors="replace")[-2000:]
            if service.log_file.exists()
            else ""
        )
        print(f"  ! {service.spec.name} exited with code {code}; its log ends:\n{tail}", flush=True)


def _quiet(message: str) -> None:
    return None
