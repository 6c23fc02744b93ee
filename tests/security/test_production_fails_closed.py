"""Issue 14, item 2: production fails closed at start-up, in every entry point.

With PAYSAGA_ENV=production and each required secret in turn empty, weak or a
development value, the API, the workers, the codec server and the CLI exit non-zero
with one message naming that setting (no traceback), before connecting to anything:
the database and Temporal addresses point at a listener that must see no connection.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from paysaga.client.control.merchants import IssuedKey
from paysaga.client.control.webhook_events import WebhookEventStore
from paysaga.config.settings import Settings
from paysaga.gateways.webhooks import WebhookVerificationError, verify_stripe_signature
from paysaga.sandbox.runner import SandboxServers
from paysaga.sandbox.stripe.webhooks import signature_header
from paysaga.stack.ports import free_port
from tests.api import conftest as api_fixtures
from tests.api.conftest import serve_api
from tests.api.webhook_helpers import stripe_event, stripe_headers
from tests.security.production_env import KINDS, SECRETS, bad_value, production_env

shard_dsns = api_fixtures.shard_dsns
control_db = api_fixtures.control_db
sandboxes = api_fixtures.sandboxes
api_settings = api_fixtures.api_settings
merchants = api_fixtures.merchants
merchant = api_fixtures.merchant

ENTRY_POINTS: dict[str, list[str]] = {
    "api": ["paysaga.api", "--port", "{port}"],
    "workers": ["workers", "--queue", "all"],
    "codec-server": ["paysaga.security.codec_server", "--port", "{port}"],
    "cli": ["paysaga.cli", "migrate"],
}


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """Where the database and Temporal addresses point: any connection is a failure."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.setblocking(False)
        yield sock


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()
    return f"{host}:{port}"


def _start(entry_point: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    args = [arg.replace("{port}", str(free_port())) for arg in ENTRY_POINTS[entry_point]]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSAGA_")}
    full_env.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        env=full_env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"still running after 30 s (it started): {out}{err}") from None
    return proc.returncode, out + err


def _assert_refused(code: int, output: str, variable: str, value: str) -> None:
    assert code != 0, output
    assert variable in output, output
    assert "Traceback" not in output, output
    # Only this setting is named: the rest of the configuration is valid.
    named = {word.rstrip(":,") for word in output.split() if word.startswith("PAYSAGA_")}
    assert named == {variable}, output
    if len(value) > 2:
        assert value not in output  # the message never echoes a secret


def _assert_no_connection(sock: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        conn, _ = sock.accept()
        conn.close()


@pytest.mark.parametrize("variable", SECRETS)
@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_entry_point_refuses_a_bad_secret_in_production(
    entry_point: str, variable: str, listener: socket.socket, tmp_path: Path
) -> None:
    base = production_env(_address(listener))
    began = time.monotonic()
    # The three bad kinds of this secret, side by side (each process on its own).
    running = {
        kind: _start(entry_point, {**base, variable: bad_value(variable, kind)}, tmp_path)
        for kind in KINDS
    }
    try:
        for kind, proc in running.items():
            code, output = _finish(proc)
            _assert_refused(code, output, variable, bad_value(variable, kind))
    finally:  # a process that did start (the defect) must not outlive the test
        for proc in running.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert time.monotonic() - began < 60
    _assert_no_connection(listener)


@pytest.mark.parametrize("spelling", ["prod", "Production", " production"])
def test_every_spelling_of_production_fails_closed(
    spelling: str, listener: socket.socket, tmp_path: Path
) -> None:
    env = {**production_env(_address(listener)), "PAYSAGA_ENV": spelling}
    env["PAYSAGA_CODEC_TOKEN"] = "x"
    code, output = _finish(_start("codec-server", env, tmp_path))
    _assert_refused(code, output, "PAYSAGA_CODEC_TOKEN", "x")
    _assert_no_connection(listener)


def test_gateway_urls_left_empty_are_named_not_sent_to_the_sandbox(
    listener: socket.socket, tmp_path: Path
) -> None:
    env = production_env(_address(listener))
    for name in ("PAYSAGA_STRIPE_API_BASE", "PAYSAGA_BRAINTREE_BASE_URL", "PAYSAGA_PLAID_BASE_URL"):
        env[name] = ""
    code, output = _finish(_start("workers", env, tmp_path))
    assert code != 0 and "Traceback" not in output, output
    for name in ("PAYSAGA_STRIPE_API_BASE", "PAYSAGA_BRAINTREE_BASE_URL", "PAYSAGA_PLAID_BASE_URL"):
        assert f"{name}: required in production" in output, output
    _assert_no_connection(listener)


# ------------------------------------------------ the forged-webhook regression (issue 14)
def test_api_with_an_empty_stripe_webhook_secret_does_not_start_in_production(
    listener: socket.socket, tmp_path: Path
) -> None:
    env = {**production_env(_address(listener)), "PAYSAGA_STRIPE_WEBHOOK_SECRET": ""}
    code, output = _finish(_start("api", env, tmp_path))
    _assert_refused(code, output, "PAYSAGA_STRIPE_WEBHOOK_SECRET", "")
    _assert_no_connection(listener)


def test_a_signature_under_an_empty_key_never_verifies() -> None:
    body = b'{"id": "evt_1", "type": "payment_intent.canceled"}'
    for empty in ("", " "):
        with pytest.raises(WebhookVerificationError):
            verify_stripe_signature(body, signature_header(empty, body), empty)


async def test_api_never_accepts_a_webhook_signed_with_an_empty_key(
    api_settings: Settings,
    sandboxes: SandboxServers,
    merchant: IssuedKey,
    control_db: AsyncEngine,
) -> None:
    # The probe's attack: a payment_intent.canceled signed with an empty key, against an
    # API whose webhook secret is empty (development allows it to be set so).
    settings = api_settings.model_copy(update={"stripe_webhook_secret": SecretStr("")})
    with serve_api(settings, sandboxes) as server, server.client(merchant.api_key) as http:
        created = http.post(
            "/v1/payments",
            json={
                "amount_minor": 1500,
                "currency": "USD",
                "customer_id": "cus_1",
                "payment_method": "pm_card_visa",
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert created.status_code == 201, created.text
        event_id, body = stripe_event(created.json()["id"], type_="payment_intent.canceled")
        forged = http.post("/webhooks/stripe", content=body, headers=stripe_headers("", body))
    assert forged.status_code == 401, forged.text
    assert await WebhookEventStore(control_db).get("stripe", event_id) is None
