"""Searching stores for card numbers: Temporal histories (decoded), SQLite, text dumps."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from paysaga.domain.pan import find_pans


def pans_in(text: str, known_ids: Iterable[str] = ()) -> list[str]:
    """The card numbers in `text`, each with 40 characters of context (for the report).

    `known_ids`: identifiers of this run (merchant, workflow and run ids). A raw file cuts
    values at page boundaries, and a hexadecimal id cut after its digits no longer reads
    as an id; such a fragment of a known id is not a card number.
    """
    digits_of_ids = ["".join(c for c in known if c.isdigit()) for known in known_ids]
    hits = []
    for match in find_pans(text):
        if any(match.digits in digits for digits in digits_of_ids):
            continue
        hits.append(text[max(0, match.start - 40) : match.end + 40])
    return hits


def pans_in_file(path: Path, known_ids: Iterable[str] = ()) -> list[str]:
    """Card numbers in a file's raw bytes, read as Latin-1 (binary stores, logs)."""
    text = path.read_bytes().decode("latin-1")
    return [f"{path.name}: {hit}" for hit in pans_in(text, known_ids)]


# FTS5 shadow tables: their integers are the index's own (segment ids, row counts).
_FTS_SHADOW = ("_data", "_idx", "_docsize", "_config")


def pans_in_sqlite(path: Path) -> tuple[int, list[str]]:
    """Every cell of every table of a SQLite database, each value whole (blobs as
    Latin-1): (cells read, card numbers found)."""
    cells, hits = 0, []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    cells += 1
                    if isinstance(value, int) and table.endswith(_FTS_SHADOW):
                        continue
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    hits += [f"{table}: {hit}" for hit in pans_in(text)]
    return cells, hits


def payloads(message: Message) -> list[Payload]:
    """Every Payload inside a protobuf message (history events, failures), recursively."""
    found: list[Payload] = []
    for descriptor, value in message.ListFields():
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
                found.extend(payloads(item))
    return found


async def decoded_history_texts(client: Client, workflow_id: str) -> list[str]:
    """A workflow's history as text: each event as it is stored (ids, search attributes,
    markers, failure messages) and each payload decoded with `client`'s codec."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    codec = client.data_converter.payload_codec
    texts: list[str] = []
    for event in history.events:
        texts.append(str(event))
        found = payloads(event)
        decoded = await codec.decode(found) if codec and found else found
        texts += [payload.data.decode("utf-8", "replace") for payload in decoded]
    return texts
