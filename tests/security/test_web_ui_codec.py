"""The Web UI path end to end: dev server UI -> our codec server (a real process).

We fetch what the UI fetches: its settings (which codec endpoint to call), the
workflow history from the UI server's HTTP API, then POST the history's payloads
to the codec endpoint exactly as the UI does (JSON, X-Namespace, Origin).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.worker import Worker

from paysaga.config.temporal import connect_client
from paysaga.stack.ports import free_port
from paysaga.stack.temporal import TemporalDevServer
from tests.security.conftest import key_spec, make_key, settings_with
from tests.security.secure_workflows import SecretInput, SecretWorkflow, charge_secret

TOKEN = "ui-test-operator-token"
KEY = make_key("kui")
SECRET = SecretInput(
    amount_minor=918_273, customer_id="cus_UiVisible", token="tok_ui_only", holder_name="Grace H"
)


class UiStack:
    def __init__(self, temporal: TemporalDevServer, codec_url: str) -> None:
        self.temporal = temporal
        self.codec_url = codec_url
        self.ui_url = temporal.ui_url or ""


@pytest.fixture(scope="module")
def ui_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiStack]:
    ui_port, codec_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAYSAGA_")},
        "PAYSAGA_ENCRYPTION_KEYS": key_spec(KEY),
        "PAYSAGA_CODEC_TOKEN": TOKEN,
        "PAYSAGA_TEMPORAL_UI_PORT": str(ui_port),  # default CORS origins follow the UI port
        "PAYSAGA_LOG_FORMAT": "json",
    }
    log = tmp_path_factory.mktemp("codec") / "codec.log"
    with open(log, "wb") as out:
        codec = subprocess.Popen(
            [sys.executable, "-m", "paysaga.security.codec_server", "--port", str(codec_port)],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    codec_url = f"http://127.0.0.1:{codec_port}"
    temporal = TemporalDevServer(port=free_port(), ui_port=ui_port, codec_endpoint=codec_url)
    try:
        _wait_http(f"{codec_url}/health", codec)
        temporal.start()
        yield UiStack(temporal, codec_url)
    finally:
        temporal.stop()
        codec.terminate()
        codec.wait(10)
    assert TOKEN not in log.read_text(), "the operator token reached a log line"


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"codec server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


async def _ui_history(ui_url: str, workflow_id: str) -> dict[str, Any]:
    url = f"{ui_url}/api/v1/namespaces/default/workflows/{workflow_id}/history"
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(30):
            response = await http.get(url)
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body
            await asyncio.sleep(0.2)
    raise AssertionError(f"UI history not available: {response.status_code} {response.text}")


def _clear(payloads: list[dict[str, Any]]) -> bytes:
    """Everything a viewer of these payloads could read, base64 undone."""
    out = b""
    for payload in payloads:
        out += base64.b64decode(payload.get("data", ""))
        out += b"".join(base64.b64decode(v) for v in payload.get("metadata", {}).values())
    return out


async def test_ui_shows_plaintext_only_through_codec_with_token(ui_stack: UiStack) -> None:
    # The dev server tells the UI to use our codec server.
    async with httpx.AsyncClient(timeout=10) as http:
        settings = (await http.get(f"{ui_stack.ui_url}/api/v1/settings")).json()
    assert settings["Codec"]["Endpoint"] == ui_stack.codec_url

    task_queue = f"tq-{uuid.uuid4()}"
    workflow_id = f"sec-ui-{uuid.uuid4()}"
    client = await connect_client(settings_with(KEY), address=ui_stack.temporal.address)
    async with Worker(
        client, task_queue=task_queue, workflows=[SecretWorkflow], activities=[charge_secret]
    ):
        handle = await client.start_workflow(
            SecretWorkflow.run, SECRET, id=workflow_id, task_queue=task_queue
        )
        await handle.signal(SecretWorkflow.approve, "ok")
        await handle.result()

    history = await _ui_history(ui_stack.ui_url, workflow_id)
    started = history["history"]["events"][0]
    inputs = started["workflowExecutionStartedEventAttributes"]["input"]  # {"payloads": [...]}
    assert b"cus_UiVisible" not in json.dumps(history).encode()
    assert b"cus_UiVisible" not in _clear(inputs["payloads"])  # UI without codec: ciphertext

    ui_headers = {
        "Content-Type": "application/json",
        "X-Namespace": "default",
        "Origin": ui_stack.ui_url,
    }
    async with httpx.AsyncClient(timeout=10) as http:
        decoded = await http.post(
            f"{ui_stack.codec_url}/decode",
            content=json.dumps(inputs),
            headers={**ui_headers, "Authorization": f"Bearer {TOKEN}"},
        )
        refused = await http.post(
            f"{ui_stack.codec_url}/decode", content=json.dumps(inputs), headers=ui_headers
        )
        preflight = await http.options(
            f"{ui_stack.codec_url}/decode",
            headers={
                "Origin": ui_stack.ui_url,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
            },
        )
    assert decoded.status_code == 200
    assert decoded.headers["access-control-allow-origin"] == ui_stack.ui_url
    [shown] = decoded.json()["payloads"]
    assert json.loads(base64.b64decode(shown["data"])) == {
        "amount_minor": 918_273,
        "customer_id": "cus_UiVisible",
        "token": "tok_ui_only",
        "holder_name": "Grace H",
    }
    assert refused.status_code == 401 and b"cus_UiVisible" not in refused.content
    assert preflight.status_code == 200
