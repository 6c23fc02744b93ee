"""The whole local stack: embedded services, migrations, sandboxes, workers, API.

`Stack.up()` starts what is not configured as external, `Stack.down()` stops it in
reverse order. A state file under the data dir lets `paysaga down` (another
process) stop a stack left running in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import structlog

from paysaga.config.settings import Settings
from paysaga.domain.errors import ConfigurationError
from paysaga.stack.ports import port_in_use
from paysaga.stack.postgres import EmbeddedPostgres
from paysaga.stack.private_files import private_dir, write_private_text
from paysaga.stack.processes import (
    RunningService,
    ServiceSpec,
    process_alive,
    start_service,
    stop_process_group,
)
from paysaga.stack.temporal import DEFAULT_SQLITE_PRAGMAS, TemporalDevServer

log = structlog.get_logger(__name__)

STATE_FILE = "stack.json"


@dataclass
class StackUrls:
    temporal_address: str
    web_ui: str | None
    api: str
    codec: str | None
    sandbox_stripe: str
    sandbox_braintree: str
    sandbox_plaid: str
    shards: list[str]

    def rows(self) -> list[tuple[str, str]]:
        rows = [("Temporal gRPC", self.temporal_address)]
        if self.web_ui:
            rows.append(("Temporal Web UI", self.web_ui))
        rows += [("Payments API", self.api), ("API docs", f"{self.api}/docs")]
        if self.codec:
            rows.append(("Codec server", self.codec))
        rows += [
            ("Stripe sandbox", self.sandbox_stripe),
            ("Braintree sandbox", self.sandbox_braintree),
            ("Plaid sandbox", self.sandbox_plaid),
        ]
        rows += [(f"Ledger shard {i}", _hide_password(url)) for i, url in enumerate(self.shards)]
        return rows


def _hide_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"


@dataclass
class Stack:
    settings: Settings
    with_workers: bool = True
    with_api: bool = True
    progress: Callable[[str], None] = lambda message: None
    sqlite_pragmas: tuple[str, ...] = DEFAULT_SQLITE_PRAGMAS  # the dev server's (benchmarks vary)
    postgres: EmbeddedPostgres | None = None
    temporal: TemporalDevServer | None = None
    services: list[RunningService] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.resolve()

    @property
    def state_path(self) -> Path:
        return self.data_dir / STATE_FILE

    def urls(self) -> StackUrls:
        s = self.settings
        return StackUrls(
            temporal_address=s.resolved_temporal_address,
            web_ui=f"http://127.0.0.1:{s.temporal_ui_port}" if s.embedded_temporal else None,
            api=f"http://127.0.0.1:{s.api_port}",
            codec=f"http://127.0.0.1:{s.codec_port}",
            sandbox_stripe=s.stripe_base(),
            sandbox_braintree=s.braintree_base(),
            sandbox_plaid=s.plaid_base(),
            shards=s.shard_urls(),
        )

    # ----------------------------------------------------------------- up
    def up(self) -> StackUrls:
        private_dir(self.data_dir)  # the Temporal store, logs and DB password live here
        try:
            self._start_postgres()
            self._migrate()
            self._start_codec_server()
            self._start_temporal()
            self._start_sandboxes()
            if self.with_workers:
                self._start_workers()
            if self.with_api:
                self._start_api()
        except BaseException:
            self.down()
            raise
        self._write_state()
        return self.urls()

    def _start_postgres(self) -> None:
        if not self.settings.embedded_postgres:
            self.progress("checking PostgreSQL shards")
            for index, url in enumerate(self.settings.shard_urls()):
                _check_dsn(url, index)
            return
        self.progress("starting embedded PostgreSQL")
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres", self.settings.postgres_port)
        stopped = not self.postgres.initialised() or not self.postgres.running()
        if stopped and port_in_use(self.settings.postgres_port):
            raise ConfigurationError(
                f"port {self.settings.postgres_port} is already taken; "
                "set PAYSAGA_POSTGRES_PORT to a free port",
                field="PAYSAGA_POSTGRES_PORT",
            )
        self.postgres.start()
        for index in range(self.settings.shard_count):
            self.postgres.ensure_database(f"paysaga_shard_{index}")

    def _migrate(self) -> None:
        self.progress("migrating ledger shards")
        from ledger.migrate import upgrade_all

        upgrade_all(self.settings.shard_urls())

    def _start_codec_server(self) -> None:
        self._start(
            ServiceSpec(
                "codec-server",
                "paysaga.security.codec_server",
                ["--port", str(self.settings.codec_port)],
                ports={"PAYSAGA_CODEC_PORT": self.settings.codec_port},
            )
        )

    def _start_temporal(self) -> None:
        if not self.settings.embedded_temporal:
            self.progress("registering search attributes on Temporal")
            asyncio.run(_register_external(self.settings))
            return
        self.progress("starting Temporal dev server")
        self.temporal = TemporalDevServer(
            port=self.settings.temporal_port,
            ui_port=self.settings.temporal_ui_port,
            db_file=self.data_dir / "temporal.sqlite",
            log_file=self.data_dir / "logs" / "temporal.log",
            namespace=self.settings.temporal_namespace,
            codec_endpoint=f"http://127.0.0.1:{self.settings.codec_port}",
            sqlite_pragmas=self.sqlite_pragmas,
        )
        private_dir(self.data_dir / "logs")
        self.temporal.start()

    def _start_sandboxes(self) -> None:
        s = self.settings
        if s.stripe_api_base and s.braintree_base_url and s.plaid_base_url:
            return  # real or external gateways: nothing local to start
        self._start(
            ServiceSpec(
                "sandbox",
                "paysaga.sandbox",
                [
                    "--stripe-port",
                    str(s.sandbox_stripe_port),
                    "--braintree-port",
                    str(s.sandbox_braintree_port),
                    "--plaid-port",
                    str(s.sandbox_plaid_port),
                ],
                ports={
                    "PAYSAGA_SANDBOX_STRIPE_PORT": s.sandbox_stripe_port,
                    "PAYSAGA_SANDBOX_BRAINTREE_PORT": s.sandbox_braintree_port,
                    "PAYSAGA_SANDBOX_PLAID_PORT": s.sandbox_plaid_port,
                },
                ready=self._sandboxes_answer,
            )
        )

    def _sandboxes_answer(self) -> bool:
        # An open port is not enough: it must be our sandbox answering on each of them.
        s = self.settings
        ports = (s.sandbox_stripe_port, s.sandbox_braintree_port, s.sandbox_plaid_port)
        try:
            with httpx.Client(timeout=2, trust_env=False) as http:  # loopback: no proxy
                return all(
                    http.get(f"http://127.0.0.1:{port}/__sandbox/stats").status_code == 200
                    for port in ports
                )
        except httpx.HTTPError:
            return False

    def _start_workers(self) -> None:
        self._start(
            ServiceSpec("workers", "workers", ["--queue", "all"], ready=self._workers_polling)
        )

    def _workers_polling(self) -> bool:
        from paysaga.domain.names import PAYMENTS_TASK_QUEUE

        return asyncio.run(_queue_has_poller(self.settings, PAYMENTS_TASK_QUEUE))

    def _start_api(self) -> None:
        self._start(
            ServiceSpec(
                "api",
                "paysaga.api",
                ["--port", str(self.settings.api_port)],
                ports={"PAYSAGA_API_PORT": self.settings.api_port},
            )
        )

    def _start(self, spec: ServiceSpec) -> None:
        self.progress(f"starting {spec.name}")
        spec.env.update(self._child_env())
        self.services.append(start_service(spec, self.data_dir / "logs"))

    def _child_env(self) -> dict[str, str]:
        # Children resolve the same settings; the data dir is made absolute.
        env = {"PAYSAGA_DATA_DIR": str(self.data_dir)}
        if self.settings.embedded_temporal:
            env["PAYSAGA_TEMPORAL_ADDRESS"] = self.settings.resolved_temporal_address
        return env

    # --------------------------------------------------------------- state
    def _write_state(self) -> None:
        state: dict[str, Any] = {
            "owner_pid": os.getpid(),
            "services": {svc.spec.name: svc.pid for svc in self.services},
            "temporal_pid": self.temporal.process.pid
            if self.temporal and self.temporal.process
            else None,
            "postgres": {
                "data_dir": str(self.postgres.data_dir),
                "port": self.postgres.port,
            }
            if self.postgres
            else None,
            "urls": {
                **self.urls().__dict__,
                "shards": [_hide_password(u) for u in self.urls().shards],
            },
        }
        write_private_text(self.state_path, json.dumps(state, indent=2))

    # ---------------------------------------------------------------- down
    def down(self) -> None:
        for service in reversed(self.services):
            self.progress(f"stopping {service.spec.name}")
            stop_process_group(service.pid, service.spec.stop_timeout)
        self.services.clear()
        if self.temporal:
            self.progress("stopping Temporal dev server")
            self.temporal.stop()
            self.temporal = None
        if self.postgres:
            self.progress("stopping embedded PostgreSQL")
            self.postgres.stop()
            self.postgres = None
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()


def read_state(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir.resolve() / STATE_FILE
    if not path.exists():
        return None
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return state


def running_stack(data_dir: Path) -> dict[str, Any] | None:
    """The state of a stack started earlier whose processes are all still alive."""
    state = read_state(data_dir)
    if state is None:
        return None
    pids = state_pids(state)
    if not pids or not all(process_alive(pid) for pid in pids):
        return None
    return state


def state_pids(state: dict[str, Any]) -> list[int]:
    """The process ids a state file records: services, then the Temporal dev server."""
    pids: list[int] = [*state.get("services", {}).values()]
    if state.get("temporal_pid"):
        pids.append(state["temporal_pid"])
    return pids


def stop_from_state(data_dir: Path, progress: Callable[[str], None]) -> bool:
    """Stop a stack described by its state file; True if there was one."""
    state = read_state(data_dir)
    if state is None:
        return False
    for name, pid in reversed(list(state.get("services", {}).items())):
        progress(f"stopping {name}")
        stop_process_group(pid, 20)
    if state.get("temporal_pid"):
        progress("stopping Temporal dev server")
        stop_process_group(state["temporal_pid"], 15)
    pg = state.get("postgres")
    if pg:
        progress("stopping embedded PostgreSQL")
        EmbeddedPostgres(Path(pg["data_dir"]), int(pg["port"])).stop()
    with contextlib.suppress(FileNotFoundError):
        (data_dir.resolve() / STATE_FILE).unlink()
    return True


def _check_dsn(url: str, index: int) -> None:
    try:
        with psycopg.connect(url, connect_timeout=5):
            pass
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigurationError(
            f"PAYSAGA_DATABASE_URLS: shard {index} ({_hide_password(url)}) is unreachable: "
            f"{reason}",
            field="PAYSAGA_DATABASE_URLS",
        ) from None


async def _register_external(settings: Settings) -> None:
    from paysaga.config.temporal import connect_client
    from paysaga.stack.search_attributes import register_search_attributes

    client = await connect_client(settings)
    await register_search_attributes(client, settings.temporal_namespace)


async def _queue_has_poller(settings: Settings, task_queue: str) -> bool:
    from temporalio.client import Client

    from paysaga.client.workers import list_pollers

    try:
        client = await asyncio.wait_for(
            Client.connect(
                settings.resolved_temporal_address, namespace=settings.temporal_namespace
            ),
            3,
        )
        pollers = await list_pollers(client, [task_queue])
    except Exception:
        return False
    return any(poller.kind == "workflow" for poller in pollers)
