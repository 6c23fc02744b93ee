"""Braintree test fixtures: the adapter pointed at the in-process sandbox.

Import the fixtures into a test module (`from tests.gateways.braintree_fixtures
import ...`); the sandbox itself is the shared `sandbox_servers` session fixture.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn

from paysaga.gateways.braintree_gateway import BraintreeGateway
from paysaga.gateways.types import AuthorizeRequest
from paysaga.sandbox import testdata
from paysaga.sandbox.braintree.server import build_app
from paysaga.sandbox.faults import FaultInjector
from paysaga.sandbox.runner import SandboxServers
from paysaga.sandbox.settings import SandboxSettings
from paysaga.stack.ports import free_port
from tests.gateways.conftest import SANDBOX_SETTINGS, control


def make_gateway(base_url: str, **overrides: Any) -> BraintreeGateway:
    options: dict[str, Any] = {
        "merchant_id": SANDBOX_SETTINGS.braintree_merchant_id,
        "public_key": SANDBOX_SETTINGS.braintree_public_key,
        "private_key": SANDBOX_SETTINGS.braintree_private_key,
        "base_url": base_url,
        "timeout_s": 5.0,
        "connect_timeout_s": 1.0,
    }
    options.update(overrides)
    return BraintreeGateway(**options)


@pytest.fixture
def bt_url(sandbox_servers: SandboxServers) -> Iterator[str]:
    """The Braintree sandbox URL; faults are reset after the test."""
    yield sandbox_servers.braintree_url
    control(sandbox_servers.braintree_url, "faults", {})


@pytest.fixture
def bt(bt_url: str) -> Iterator[BraintreeGateway]:
    gateway = make_gateway(bt_url)
    yield gateway
    gateway.close()


def new_payment(
    amount_minor: int = 1000,
    currency: str = "USD",
    payment_method: str = testdata.BRAINTREE_NONCE_SUCCESS,
    **extra: Any,
) -> AuthorizeRequest:
    payment_id = f"pay_{uuid.uuid4().hex[:16]}"
    return AuthorizeRequest(
        idempotency_key=f"payment-{payment_id}:authorize",
        payment_id=payment_id,
        amount_minor=amount_minor,
        currency=currency,
        payment_method=payment_method,
        **extra,
    )


def stats(base_url: str) -> dict[str, Any]:
    return control(base_url, "stats")


class WebhookReceiver:
    """A loopback HTTP endpoint that records what the sandbox POSTs to it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with received._lock:
                    received.bodies.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/webhooks/braintree"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[bytes]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.bodies) >= count:
                    return list(self.bodies)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} webhooks, got {len(self.bodies)}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@contextmanager
def own_braintree_sandbox(settings: SandboxSettings) -> Iterator[str]:
    """A Braintree sandbox of its own (e.g. with automatic settlement on)."""
    app = build_app(FaultInjector(), settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "sandbox did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def raw_post(base_url: str, path: str, body: bytes, **headers: str) -> httpx.Response:
    """A hand-made request to the sandbox API, authenticated like the SDK."""
    settings = SANDBOX_SETTINGS
    return httpx.post(
        f"{base_url}/merchants/{settings.braintree_merchant_id}{path}",
        content=body,
        auth=(settings.braintree_public_key, settings.braintree_private_key),
        headers={"Content-Type": "application/xml", "X-ApiVersion": "6", **headers},
    )
