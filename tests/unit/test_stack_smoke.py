"""The embedded servers the rest of the suite relies on start and answer."""

from __future__ import annotations

import psycopg
from temporalio.client import Client

from paysaga.stack.postgres import EmbeddedPostgres


def test_embedded_postgres_answers(fresh_database: str) -> None:
    with psycopg.connect(fresh_database) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert row is not None and row[0] >= 160000


def test_embedded_postgres_restarts(pg_server: EmbeddedPostgres) -> None:
    before = pg_server.postmaster_pid()
    pg_server.restart()
    assert pg_server.postmaster_pid() not in (None, before)


async def test_dev_server_has_search_attributes(dev_client: Client) -> None:
    # A visibility query on a custom attribute fails unless it is registered.
    assert (await dev_client.count_workflows("PaymentStatus = 'none'")).count == 0
