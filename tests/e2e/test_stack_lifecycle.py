"""`paysaga up` starts every service and stops all of them: detached + down, and Ctrl-C."""

from __future__ import annotations

import signal
import time

import httpx

from tests.e2e.conftest import PaysagaRunner, alive


def test_up_detached_then_down_leaves_nothing(paysaga: PaysagaRunner) -> None:
    result = paysaga.run("up", "--detach", timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    ui = f"http://127.0.0.1:{paysaga.port('PAYSAGA_TEMPORAL_UI_PORT')}"
    assert ui in result.stdout.replace("localhost", "127.0.0.1")
    assert httpx.get(ui, timeout=10).status_code == 200
    api = f"http://127.0.0.1:{paysaga.port('PAYSAGA_API_PORT')}"
    assert httpx.get(f"{api}/healthz", timeout=10).status_code == 200
    pids = paysaga.stack_pids()
    pg_pid = paysaga.postgres_pid()
    assert pids and pg_pid

    down = paysaga.run("down", timeout=120)
    assert down.returncode == 0, down.stderr
    assert alive([*pids, pg_pid]) == []


def test_ctrl_c_stops_everything(paysaga: PaysagaRunner) -> None:
    process = paysaga.popen("up")
    deadline = time.monotonic() + 240
    while not paysaga.stack_pids():
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        assert time.monotonic() < deadline, "stack did not come up"
        time.sleep(0.5)
    pids = paysaga.stack_pids()
    pg_pid = paysaga.postgres_pid()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 0
    assert alive([*pids, *([pg_pid] if pg_pid else [])]) == []
