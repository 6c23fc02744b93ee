"""Encryption on a real Temporal dev server: raw history is ciphertext, keys rotate."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.worker import Worker

from paysaga.config.temporal import connect_client
from paysaga.security.codec import KEY_ID_METADATA
from paysaga.security.errors import UnknownEncryptionKey
from paysaga.stack.temporal import TemporalDevServer
from tests.security.conftest import settings_with
from tests.security.secure_workflows import (
    HeartbeatWorkflow,
    LeakyFailureWorkflow,
    SecretInput,
    SecretResult,
    SecretWorkflow,
    charge_secret,
    heartbeat_secret,
    leak_in_error,
)

SECRET = SecretInput(
    amount_minor=73_519_11,
    customer_id="cus_R4reCustomer",
    token="tok_live_lookalike_9f8e7d",
    holder_name="Ada Lovelace-Byron",
)
NEEDLES = [b"7351911", b"cus_R4reCustomer", b"tok_live_lookalike", b"Ada Lovelace", b"json/plain"]


async def _client(server: TemporalDevServer, *keys: tuple[str, bytes]) -> Client:
    return await connect_client(settings_with(*keys), address=server.address)


def _worker(client: Client, task_queue: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[SecretWorkflow, LeakyFailureWorkflow, HeartbeatWorkflow],
        activities=[charge_secret, leak_in_error, heartbeat_secret],
    )


async def _raw_history(raw_client: Client, workflow_id: str) -> bytes:
    history = await raw_client.get_workflow_handle(workflow_id).fetch_history()
    return history.to_json().encode() + b"".join(e.SerializeToString() for e in history.events)


async def _until_receipt(handle: WorkflowHandle[SecretWorkflow, SecretResult]) -> str:
    for _ in range(100):
        receipt = await handle.query(SecretWorkflow.receipt)
        if receipt:
            return receipt
        await asyncio.sleep(0.1)
    raise AssertionError("activity never completed")


def _all_payloads(history_events: list[HistoryEvent], kind: int) -> list[Payload]:
    for event in history_events:
        if event.event_type == kind:
            if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                return list(event.workflow_execution_started_event_attributes.input.payloads)
            return list(event.workflow_execution_completed_event_attributes.result.payloads)
    raise AssertionError(f"no event {kind}")


async def test_key_rotation_under_a_running_workflow(
    temporal_dev_server: TemporalDevServer, dev_client: Client, task_queue: str, key1, key2
) -> None:
    workflow_id = f"sec-rotate-{uuid.uuid4()}"
    client_k1 = await _client(temporal_dev_server, key1)
    async with _worker(client_k1, task_queue):
        handle = await client_k1.start_workflow(
            SecretWorkflow.run,
            SECRET,
            id=workflow_id,
            task_queue=task_queue,
            memo={"holder": SECRET.holder_name},
        )
        assert await _until_receipt(handle) == f"receipt-for-{SECRET.customer_id}"

    # Rotate: key 2 encrypts from now on, key 1 still decrypts. A new worker replays
    # the key-1 history from scratch and carries on.
    client_k21 = await _client(temporal_dev_server, key2, key1)
    async with _worker(client_k21, task_queue):
        handle21 = client_k21.get_workflow_handle_for(SecretWorkflow.run, workflow_id)
        assert await handle21.execute_update(SecretWorkflow.annotate, "upd-Ada") == (
            f"noted upd-Ada on receipt-for-{SECRET.customer_id}"
        )
        await handle21.signal(SecretWorkflow.approve, "approved-by-Ada")
        result = await handle21.result()
    assert result == SecretResult(
        receipt=f"receipt-for-{SECRET.customer_id}/approved-by-Ada",
        amount_minor=SECRET.amount_minor,
    )
    assert await (await handle21.describe()).memo() == {"holder": SECRET.holder_name}

    # Raw history (no codec): no value in clear, anywhere.
    raw = await _raw_history(dev_client, workflow_id)
    for needle in [*NEEDLES, b"approved-by-Ada", b"upd-Ada", b"receipt-for-"]:
        assert needle not in raw, needle
    events = list((await dev_client.get_workflow_handle(workflow_id).fetch_history()).events)
    [started] = _all_payloads(events, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    [completed] = _all_payloads(events, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
    assert started.metadata[KEY_ID_METADATA] == b"k1"
    assert completed.metadata[KEY_ID_METADATA] == b"k2"

    # Only key 2: the old input cannot be read; with [2, 1] it can.
    client_k2 = await _client(temporal_dev_server, key2)
    with pytest.raises(UnknownEncryptionKey, match="k1"):
        await client_k2.data_converter.decode([started], [SecretInput])
    assert await client_k21.data_converter.decode([started], [SecretInput]) == [SECRET]
    assert await client_k2.data_converter.decode([completed], [SecretResult]) == [result]


async def test_failure_messages_are_encrypted(
    temporal_dev_server: TemporalDevServer, dev_client: Client, task_queue: str, key1
) -> None:
    workflow_id = f"sec-fail-{uuid.uuid4()}"
    client = await _client(temporal_dev_server, key1)
    async with _worker(client, task_queue):
        with pytest.raises(WorkflowFailureError) as info:
            await client.execute_workflow(
                LeakyFailureWorkflow.run, SECRET, id=workflow_id, task_queue=task_queue
            )
    # Through the codec the operator sees the real message...
    cause = info.value.cause
    while cause.__cause__ is not None:
        cause = cause.__cause__  # type: ignore[assignment]
    assert SECRET.token in str(cause)
    # ...while the server only ever held ciphertext (message and stack trace).
    raw = await _raw_history(dev_client, workflow_id)
    for needle in [*NEEDLES, b"gateway refused", b"secure_workflows.py"]:
        assert needle not in raw, needle
    assert b"Encoded failure" in raw


async def test_heartbeat_details_are_encrypted(
    temporal_dev_server: TemporalDevServer, dev_client: Client, task_queue: str, key1
) -> None:
    workflow_id = f"sec-hb-{uuid.uuid4()}"
    client = await _client(temporal_dev_server, key1)
    async with _worker(client, task_queue):
        await client.start_workflow(
            HeartbeatWorkflow.run, SECRET, id=workflow_id, task_queue=task_queue
        )
        raw_handle = dev_client.get_workflow_handle(workflow_id)
        details: list[Payload] = []
        for _ in range(100):
            pending = (await raw_handle.describe()).raw_description.pending_activities
            if pending and pending[0].heartbeat_details.payloads:
                details = list(pending[0].heartbeat_details.payloads)
                break
            await asyncio.sleep(0.1)
        assert details, "no heartbeat recorded"
        await raw_handle.terminate("test over")
    assert all(p.metadata[KEY_ID_METADATA] == b"k1" for p in details)
    assert not any(SECRET.token.encode() in p.SerializeToString() for p in details)
    assert await client.data_converter.decode(details) == [
        {"progress": "charging", "token": SECRET.token}
    ]
