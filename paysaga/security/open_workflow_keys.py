"""Start-up check: can this key set decode the workflows that are still open?

Every encrypted payload names its key (codec.KEY_ID_METADATA). If a key is retired from
PAYSAGA_ENCRYPTION_KEYS while workflows encrypted with it are open, no worker can
replay them: they stop moving and every query of them fails. So workers and the API,
at start-up, sample the open workflows of their task queue from Temporal visibility,
read the key ids in the first events of each sampled history (the oldest payloads a
replay needs: later ones use the key that was current then, which is newer), and stop
with a message naming each missing key id. `PAYSAGA_UNDECODABLE_WORKFLOWS=warn` starts
anyway, logging the same message as an error (to run while the affected workflows are
terminated). It is a sample: the oldest runs plus runs spread over the rest, as keys
are used by era, so a key whose era has left fewer open runs than a sample step can be
missed; the API then names the key on the first query that meets it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

import structlog
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client

from paysaga.security.codec import KEY_ID_METADATA, is_encrypted
from paysaga.security.errors import KeyringError
from paysaga.security.keyring import Keyring

log = structlog.get_logger(__name__)

Mode = Literal["refuse", "warn"]
LIST_LIMIT: Final = 10_000  # open runs listed per task queue (metadata only)
OLDEST: Final = 16  # the oldest runs are always sampled: they hold the oldest keys
SPREAD: Final = 16  # plus this many spread evenly over the rest
FIRST_EVENTS: Final = 5  # events read from the start of each sampled history
CONCURRENCY: Final = 8
_EPOCH: Final = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class MissingKey:
    key_id: str
    workflow_ids: tuple[str, ...]  # sampled open workflows that need it


@dataclass(frozen=True)
class OpenRun:
    workflow_id: str
    run_id: str
    started: datetime


def sample(runs: Sequence[OpenRun], oldest: int = OLDEST, spread: int = SPREAD) -> list[OpenRun]:
    """The `oldest` oldest runs plus `spread` evenly spaced over the rest, oldest first."""
    ordered = sorted(runs, key=lambda run: run.started)
    head, rest = ordered[:oldest], ordered[oldest:]
    if len(rest) <= spread:
        return head + rest
    step = len(rest) / spread
    return head + [rest[int(i * step)] for i in range(spread)]


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload nested anywhere in a proto message (inputs, headers, memos, ...)."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        kind = field.message_type
        if field.type != FieldDescriptor.TYPE_MESSAGE or kind is None:
            continue
        if kind.GetOptions().map_entry:
            if kind.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                for item in value.values():
                    yield from payloads_in(item)
        elif field.is_repeated:
            for item in value:
                yield from payloads_in(item)
        else:
            yield from payloads_in(value)


def key_ids_in(message: Message) -> set[str]:
    found = set()
    for payload in payloads_in(message):
        raw = payload.metadata.get(KEY_ID_METADATA)
        if is_encrypted(payload) and raw is not None:
            found.add(raw.decode(errors="replace"))
    return found


async def _open_runs(client: Client, task_queue: str) -> list[OpenRun]:
    runs: list[OpenRun] = []
    query = f'ExecutionStatus = "Running" AND TaskQueue = "{task_queue}"'
    async for execution in client.list_workflows(query, page_size=1000):
        runs.append(OpenRun(execution.id, execution.run_id, execution.start_time or _EPOCH))
        if len(runs) >= LIST_LIMIT:
            break
    return runs


async def _history_key_ids(client: Client, run: OpenRun) -> set[str]:
    # The raw RPC: payloads are read as stored, never decoded (this may lack the key).
    response = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=run.workflow_id, run_id=run.run_id),
            maximum_page_size=FIRST_EVENTS,
        )
    )
    return key_ids_in(response.history)


async def find_missing_keys(client: Client, keyring: Keyring, task_queue: str) -> list[MissingKey]:
    """Key ids that sampled open workflows of `task_queue` need and `keyring` lacks."""
    runs = sample(await _open_runs(client, task_queue))
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(run: OpenRun) -> set[str]:
        async with gate:
            return await _history_key_ids(client, run)

    needs: dict[str, list[str]] = {}
    for run, key_ids in zip(runs, await asyncio.gather(*(one(run) for run in runs)), strict=True):
        for key_id in sorted(key_ids):
            if key_id not in keyring:
                needs.setdefault(key_id, []).append(run.workflow_id)
    return [MissingKey(key_id, tuple(ids)) for key_id, ids in sorted(needs.items())]


def missing_keys_message(missing: Sequence[MissingKey], task_queue: str) -> str:
    parts = []
    for key in missing:
        shown = ", ".join(key.workflow_ids[:3])
        more = f" and {len(key.workflow_ids) - 3} more sampled" if len(key.workflow_ids) > 3 else ""
        parts.append(f"key {key.key_id!r} (needed by open workflows {shown}{more})")
    return (
        f"PAYSAGA_ENCRYPTION_KEYS lacks {'; '.join(parts)} on task queue {task_queue}: "
        "they cannot be replayed or queried. Add the key back after the current one, or "
        "terminate those workflows; PAYSAGA_UNDECODABLE_WORKFLOWS=warn starts anyway"
    )


async def check_open_workflows(
    client: Client, keyring: Keyring, task_queue: str, mode: Mode = "refuse"
) -> list[MissingKey]:
    """Refuse (KeyringError naming the key ids) or warn when open workflows need a missing
    key. Trouble reading visibility is logged and does not stop start-up."""
    try:
        missing = await find_missing_keys(client, keyring, task_queue)
    except Exception as exc:  # a check that cannot run must not keep the service down
        log.warning(
            "encryption_keys.open_workflows_unchecked",
            task_queue=task_queue,
            error=f"{type(exc).__name__}: {exc}"[:300],
        )
        return []
    if not missing:
        return []
    message = missing_keys_message(missing, task_queue)
    if mode == "refuse":
        raise KeyringError(message, field="PAYSAGA_ENCRYPTION_KEYS")
    log.error(
        "encryption_keys.missing_for_open_workflows",
        task_queue=task_queue,
        missing_key_ids=[key.key_id for key in missing],
        message=message,
    )
    return missing
