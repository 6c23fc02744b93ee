"""Run the three sandbox apps with uvicorn on loopback ports inside one process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
import uvicorn
from starlette.applications import Starlette

from paysaga.config.logging import uvicorn_logging
from paysaga.sandbox.braintree import server as braintree_server
from paysaga.sandbox.faults import FaultInjector
from paysaga.sandbox.plaid import server as plaid_server
from paysaga.sandbox.settings import SandboxSettings
from paysaga.sandbox.stripe import server as stripe_server
from paysaga.stack.ports import free_port

log = structlog.get_logger()

AppBuilder = Callable[[FaultInjector, SandboxSettings], Starlette]


BUILDERS: dict[str, AppBuilder] = {
    "stripe": stripe_server.build_app,
    "braintree": braintree_server.build_app,
    "plaid": plaid_server.build_app,
}


@dataclass
class _Running:
    server: uvicorn.Server
    thread: threading.Thread
    app: Starlette
    port: int


@dataclass
class SandboxServers:
    """Start/stop the sandboxes; each gets its own FaultInjector (faults are per provider)."""

    settings: SandboxSettings = field(default_factory=SandboxSettings)
    stripe_port: int = 0  # 0 = pick a free port
    braintree_port: int = 0
    plaid_port: int = 0
    host: str = "127.0.0.1"
    injectors: dict[str, FaultInjector] = field(default_factory=dict)
    _running: dict[str, _Running] = field(default_factory=dict)

    def start(self, timeout_s: float = 10.0) -> SandboxServers:
        ports = {
            "stripe": self.stripe_port,
            "braintree": self.braintree_port,
            "plaid": self.plaid_port,
        }
        for name, build in BUILDERS.items():
            injector = self.injectors.setdefault(name, FaultInjector.from_env())
            app = build(injector, self.settings)
            port = ports[name] or free_port()
            config = uvicorn.Config(
                app,
                host=self.host,
                port=port,
                lifespan="on",
                **uvicorn_logging(),
                # Withheld ("timeout after success") responses must not hold up shutdown.
                timeout_graceful_shutdown=1,
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, name=f"sandbox-{name}", daemon=True)
            thread.start()
            self._running[name] = _Running(server, thread, app, port)
        deadline = time.monotonic() + timeout_s
        for name, running in self._running.items():
            while not running.server.started:
                if time.monotonic() > deadline or not running.thread.is_alive():
                    self.stop()
                    raise RuntimeError(f"{name} sandbox did not start on port {running.port}")
                time.sleep(0.02)
        log.info("sandboxes_started", **{k: self.url(k) for k in self._running})
        return self

    def stop(self) -> None:
        for running in self._running.values():
            running.server.should_exit = True
        for running in self._running.values():
            running.thread.join(timeout=5)
        self._running.clear()

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self._running[name].port}"

    def app(self, name: str) -> Starlette:
        return self._running[name].app

    def apps(self) -> dict[str, Starlette]:
        return {name: running.app for name, running in self._running.items()}

    @property
    def stripe_url(self) -> str:
        return self.url("stripe")

    @property
    def plaid_url(self) -> str:
        return self.url("plaid")

    @property
    def braintree_url(self) -> str:
        return self.url("braintree")

    def __enter__(self) -> SandboxServers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
