"""Issue 14, item 9: the development stack keeps its state to its owner.

The embedded PostgreSQL authenticates with a generated password (kept 0600 in its data
dir) instead of trusting every local user; the Temporal SQLite store, the logs and the
stack's state file are 0600 in 0700 directories; uvicorn's own loggers ("Exception in
ASGI application" with its traceback) go through structlog's redaction.
"""

from __future__ import annotations

import io
import stat
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from paysaga.config.logging import configure_logging, uvicorn_logging
from paysaga.config.settings import load_settings
from paysaga.stack.credentials import postgres_url
from paysaga.stack.ports import free_port
from paysaga.stack.postgres import EmbeddedPostgres, _prepare_root_user
from paysaga.stack.processes import ServiceSpec, start_service, stop_process_group
from paysaga.stack.stack import Stack
from paysaga.stack.temporal import TemporalDevServer
from tests.e2e.conftest import PaysagaRunner, paysaga  # noqa: F401 - the fixture


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _private_dir(path: Path) -> None:
    # Owner-only; at most "others may traverse" (x), which the PostgreSQL system user
    # needs when the stack runs as root. Never readable or writable by others.
    assert _mode(path) & 0o066 == 0, oct(_mode(path))


# ------------------------------------------------------------------ PostgreSQL auth
def test_connection_without_the_password_is_refused(pg_server: EmbeddedPostgres) -> None:
    no_password = postgres_url(pg_server.port, "postgres", None)
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(no_password, connect_timeout=5)
    wrong = postgres_url(pg_server.port, "postgres", "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)
    with psycopg.connect(pg_server.url(), connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)


def test_password_file_and_data_are_owner_only(pg_server: EmbeddedPostgres) -> None:
    assert _mode(pg_server.password_file) == 0o600
    assert len(pg_server.password) >= 40  # 256 bits, URL-safe
    assert _mode(pg_server.data_dir) == 0o700
    assert _mode(pg_server.pgdata) == 0o700
    assert _mode(pg_server.log_file) == 0o600
    hba = (pg_server.pgdata / "pg_hba.conf").read_text().splitlines()
    assert not [line for line in hba if not line.startswith("#") and "trust" in line.split()]


def test_a_cluster_initialised_with_trust_moves_to_password_auth(tmp_path: Path) -> None:
    # A data dir from an older paysaga: initdb --auth=trust, no password file yet.
    server = EmbeddedPostgres(tmp_path / "postgres", free_port())
    _prepare_root_user(server.data_dir)
    server.data_dir.mkdir(exist_ok=True)
    made = server._run("initdb", "-D", str(server.pgdata), "--auth=trust", "-U", "postgres")
    assert made.returncode == 0, made.stderr
    assert not server.password_file.exists()
    try:
        server.start()
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(postgres_url(server.port, "postgres", None), connect_timeout=5)
        with psycopg.connect(server.url(), connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert _mode(server.password_file) == 0o600
    finally:
        server.stop(mode="immediate")


def test_embedded_shard_dsns_carry_the_password(tmp_path: Path) -> None:
    pg_dir = tmp_path / "postgres"
    server = EmbeddedPostgres(pg_dir, 5433)
    settings = load_settings(data_dir=tmp_path, postgres_port=5433)
    assert f":{server.password}@" in settings.shard_urls()[0]


# ------------------------------------------------------------ Temporal store and logs
def test_temporal_store_and_log_are_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = TemporalDevServer(
        port=free_port(),
        ui_port=None,
        db_file=data / "temporal.sqlite",
        log_file=data / "logs" / "temporal.log",
    )
    for attempt in ("fresh", "left 0644 by an older version"):
        server.start()
        try:
            companions = [data / "temporal.sqlite", *data.glob("temporal.sqlite-*")]
            assert len(companions) >= 2, companions  # the store and its WAL
            for path in companions:
                assert _mode(path) == 0o600, (attempt, path, oct(_mode(path)))
            assert _mode(data / "logs" / "temporal.log") == 0o600
            assert _mode(data / "logs") == 0o700
        finally:
            server.stop()
        for path in [*data.glob("temporal.sqlite*"), data / "logs" / "temporal.log"]:
            path.chmod(0o644)


def _umask_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise AssertionError("no Umask line")


def test_service_logs_are_owner_only_and_children_create_private_files(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    port = free_port()
    spec = ServiceSpec(
        "probe", "http.server", [str(port), "--bind", "127.0.0.1"], ports={"PROBE": port}
    )
    service = start_service(spec, log_dir)
    try:
        assert _mode(log_dir) == 0o700
        assert _mode(service.log_file) == 0o600
        assert _umask_of(service.pid) == 0o077
    finally:
        stop_process_group(service.pid, 5)


def test_state_file_is_owner_only_and_hides_the_password(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    stack = Stack(settings)
    stack.postgres = EmbeddedPostgres(stack.data_dir / "postgres", settings.postgres_port)
    password = stack.postgres.password
    stack._write_state()
    assert _mode(stack.state_path) == 0o600
    assert password not in stack.state_path.read_text()


# ------------------------------------------------------------ uvicorn through structlog
def _failing_app() -> Starlette:
    async def boom(request: Request) -> Response:
        key = "sk_" + "live_abcdef1234567890"  # built here so the secret scan sees no key
        raise RuntimeError(f"gateway said: card 4242 4242 4242 4242 key {key}")

    return Starlette(routes=[Route("/boom", boom)])


def test_uvicorn_exception_tracebacks_are_redacted(capfd: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream)
    port = free_port()
    # The options both entry points (API, codec server) pass to uvicorn.
    server = uvicorn.Server(
        uvicorn.Config(_failing_app(), host="127.0.0.1", port=port, **uvicorn_logging())
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.05)
        response = httpx.get(f"http://127.0.0.1:{port}/boom", timeout=10)
        assert response.status_code == 500
    finally:
        server.should_exit = True
        thread.join(10)
    sys.stderr.flush()
    captured = capfd.readouterr()
    everything = stream.getvalue() + captured.out + captured.err
    assert "Exception in ASGI application" in stream.getvalue(), everything
    assert '"logger": "uvicorn.error"' in stream.getvalue()
    assert "RuntimeError" in stream.getvalue()  # the traceback is kept, redacted
    for leaked in ("4242 4242 4242 4242", "abcdef1234567890"):
        assert leaked not in everything, everything


# ------------------------------------------------------------ the whole stack, started
def test_a_started_stack_keeps_its_state_owner_only(paysaga: PaysagaRunner) -> None:  # noqa: F811
    result = paysaga.run("up", "--detach", timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    data = paysaga.data_dir
    password = (data / "postgres" / "password").read_text().strip()
    for path in [data, *data.rglob("*")]:
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            continue
        if path.is_dir():
            _private_dir(path)
        else:
            assert _mode(path) & 0o077 == 0, (path, oct(_mode(path)))
    for name in ("temporal.sqlite", "postgres/password", "stack.json", "logs/api.log"):
        assert _mode(data / name) == 0o600, name
    assert _mode(data / "logs") == 0o700
    for log in (data / "logs").iterdir():
        assert password not in log.read_text(errors="replace"), log
    assert password not in result.stdout + result.stderr
    port = paysaga.port("PAYSAGA_POSTGRES_PORT")
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(postgres_url(port, "paysaga_shard_0", None), connect_timeout=5)
    assert paysaga.run("down", timeout=120).returncode == 0


def test_a_private_dir_keeps_the_traverse_grant(tmp_path: Path) -> None:
    """A regression: the card-number scan's Temporal log made its tmp dir private, took
    the PostgreSQL user's o+x away, and pg_ctl could no longer stop the server below."""
    from paysaga.stack.private_files import private_dir

    granted = tmp_path / "granted"
    granted.mkdir(mode=0o755)
    granted.chmod(0o755)
    assert _mode(private_dir(granted)) == 0o701
    plain = tmp_path / "plain"
    plain.mkdir()
    plain.chmod(0o750)
    assert _mode(private_dir(plain)) == 0o700
