"""The main job: `paysaga demo` on a fresh embedded stack exits 0, and runs twice in a row.

After the first run the same stack is inspected the way an attacker with access to
the Temporal database or the log files would: every payload of a payment's and an
onboarding's history is ciphertext, and no log line holds a secret or a card number.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from paysaga.security.redaction import redact_text
from tests.e2e.conftest import PaysagaRunner

# Values the stack holds that must never be written anywhere in clear.
SECRETS = (
    "sk_test_paysaga_sandbox",
    "whsec_paysaga_sandbox",
    "paysaga_private_sandbox",
    "paysaga_plaid_sandbox_secret",
    "paysaga-dev-operator-token",
)
PATCH_MARKER = "core_patch"
LOCAL_ACTIVITY_MARKER = "core_local_activity"
PLAID_TOKEN = re.compile(r"(access|public|processor)-sandbox-[0-9a-f-]{8,}")


def _payloads(message: Message, skip: frozenset[str]) -> list[Payload]:
    """Every Payload inside a history event, except fields named in `skip`."""
    found: list[Payload] = []
    for descriptor, value in message.ListFields():
        if descriptor.name in skip:
            continue
        values: list[Any]
        if descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry:
            values = list(value.values())
        elif isinstance(value, Message | str | bytes | int | float):
            values = [value]
        else:  # a repeated field
            values = list(value)
        for item in values:
            if isinstance(item, Payload):
                found.append(item)
            elif isinstance(item, Message):
                found.extend(_payloads(item, skip))
    return found


async def _history_payloads(address: str, kind: str) -> tuple[str, list[Payload]]:
    client = await Client.connect(address)  # deliberately without the codec
    async for execution in client.list_workflows(f"WorkflowType = '{kind}'"):
        history = await client.get_workflow_handle(execution.id).fetch_history()
        payloads: list[Payload] = []
        for event in history.events:
            # Search attributes are visible on purpose (support filters on them).
            # workflow.patched() markers are written by the SDK core, outside the
            # codec; they hold only the patch id.
            # A local activity's marker holds core's own bookkeeping in `data` (sequence,
            # attempt, activity type, times) and the result, through the codec, in `result`.
            marker = event.marker_recorded_event_attributes
            if event.HasField("marker_recorded_event_attributes") and marker.marker_name == (
                PATCH_MARKER
            ):
                continue
            if marker.marker_name == LOCAL_ACTIVITY_MARKER:
                result = marker.details.get("result")
                payloads += list(result.payloads) if result else []
                continue
            payloads += _payloads(event, frozenset({"search_attributes"}))
        return execution.id, payloads
    raise AssertionError(f"no {kind} in the stack")


def _assert_history_encrypted(paysaga: PaysagaRunner) -> None:
    address = f"127.0.0.1:{paysaga.port('PAYSAGA_TEMPORAL_PORT')}"
    for kind in ("PaymentWorkflow", "OnboardingWorkflow"):
        workflow_id, payloads = asyncio.run(_history_payloads(address, kind))
        assert payloads, workflow_id
        for payload in payloads:
            assert payload.metadata.get("encoding") == b"binary/encrypted", (kind, payload)
            assert b"USD" not in payload.data and b"Alberta" not in payload.data


def _assert_logs_clean(paysaga: PaysagaRunner, demo_output: str) -> None:
    texts = [demo_output] + [
        p.read_text(errors="replace") for p in (paysaga.data_dir / "logs").glob("*.log")
    ]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
        assert not PLAID_TOKEN.search(text), PLAID_TOKEN.search(text)
        # A Luhn-valid card number would be rewritten by the redactor.
        assert redact_text(text).count("[PAN ") == text.count("[PAN ")


def test_demo_twice_and_web_ui_link_answers(paysaga: PaysagaRunner) -> None:
    started = time.monotonic()
    first = paysaga.run("demo", timeout=300)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-6000:]
    assert time.monotonic() - started < 180, "the demo must finish in under 3 minutes"
    assert "balanced on every shard" in output
    assert "0 exceptions" in output
    links = re.findall(r"http://127\.0\.0\.1:\d+/namespaces/\S+/workflows/\S+", output)
    assert len(links) >= 7, output[-3000:]
    # The stack stays up after the demo, so the links the summary prints work.
    assert httpx.get(links[0], timeout=20).status_code == 200

    _assert_history_encrypted(paysaga)
    _assert_logs_clean(paysaga, output)

    second = paysaga.run("demo", timeout=300)
    assert second.returncode == 0, (second.stdout + second.stderr)[-6000:]
    assert "reusing the running paysaga stack" in second.stdout
