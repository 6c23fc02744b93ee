"""Sandboxes started in-process on free loopback ports, and adapters pointed at them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from paysaga.gateways.stripe_gateway import StripeGateway
from paysaga.sandbox.runner import SandboxServers
from paysaga.sandbox.settings import SandboxSettings
from paysaga.stack.ports import free_port

SANDBOX_SETTINGS = SandboxSettings(settle_after_s=0)  # settle on demand in tests


@pytest.fixture(scope="session")
def sandbox_servers() -> Iterator[SandboxServers]:
    servers = SandboxServers(SANDBOX_SETTINGS).start()
    try:
        yield servers
    finally:
        servers.stop()


def control(base_url: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    """Call a sandbox control endpoint (`/__sandbox/...`)."""
    url = f"{base_url}/__sandbox/{path}"
    response = httpx.post(url, json=body or {}) if body is not None else httpx.get(url)
    response.raise_for_status()
    data: dict[str, object] = response.json()
    return data


@pytest.fixture
def stripe_faults(sandbox_servers: SandboxServers) -> Iterator[str]:
    """The Stripe sandbox URL; faults are reset after the test."""
    yield sandbox_servers.stripe_url
    control(sandbox_servers.stripe_url, "faults", {})


@pytest.fixture
def plaid_faults(sandbox_servers: SandboxServers) -> Iterator[str]:
    yield sandbox_servers.plaid_url
    control(sandbox_servers.plaid_url, "faults", {})


@pytest.fixture(scope="session")
def stripe_gateway(sandbox_servers: SandboxServers) -> Iterator[StripeGateway]:
    gateway = StripeGateway(
        SANDBOX_SETTINGS.stripe_api_key, api_base=sandbox_servers.stripe_url, timeout_s=5
    )
    yield gateway
    gateway.close()


class WebhookReceiver:
    """A real local HTTP endpoint that records the webhooks POSTed to it."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append((body, dict(self.headers.items())))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
