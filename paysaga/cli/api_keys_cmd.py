"""`paysaga keys issue|list|revoke`: API keys of merchants and operators, on shard 0.

The plaintext of an issued key is printed once, alone on stdout (so
`KEY=$(paysaga keys issue --operator)` captures it); only its keyed hash is stored.
A revoked key is refused (401) from its next request on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
import typer
from rich.table import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from paysaga.cli.console import console, err_console, friendly_errors
from paysaga.client.control.db import control_engine
from paysaga.client.control.keys import ApiKeyStore
from paysaga.config.settings import load_settings
from paysaga.domain.errors import ConfigurationError, ValidationError

T = TypeVar("T")


def _with_store(dsn: str, action: Callable[[ApiKeyStore], Awaitable[T]]) -> T:
    """Run one store call on the control database; database trouble is one line."""

    async def main() -> T:
        engine: AsyncEngine = control_engine(dsn or load_settings().shard_urls()[0], pool_size=1)
        try:
            return await action(ApiKeyStore(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except DBAPIError as exc:
        if isinstance(exc.orig, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
            raise ConfigurationError(
                "the api_keys table is missing or old: run `paysaga migrate` first",
                field="PAYSAGA_DATABASE_URLS",
            ) from None
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        raise ConfigurationError(
            f"PAYSAGA_DATABASE_URLS: cannot use shard 0: {first}", field="PAYSAGA_DATABASE_URLS"
        ) from None
    except psycopg.OperationalError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigurationError(
            f"PAYSAGA_DATABASE_URLS: cannot reach shard 0: {first}", field="PAYSAGA_DATABASE_URLS"
        ) from None


DSN = typer.Option("", "--dsn", help="Control database (default: shard 0).")


@friendly_errors
def issue(
    merchant: str = typer.Option("", "--merchant", help="Merchant id (mer_...) the key acts for"),
    operator: bool = typer.Option(
        False, "--operator", help="An operator key: platform operations, no merchant"
    ),
    label: str = typer.Option("", "--label", help="Who holds it, e.g. 'ops-alice' (1..200)"),
    live: bool = typer.Option(False, "--live", help="psk_live_ prefix instead of psk_test_"),
    dsn: str = DSN,
) -> None:
    """Issue an API key for a merchant (--merchant) or an operator (--operator)."""
    if operator == bool(merchant):
        raise ValidationError(
            "give exactly one of --merchant mer_... or --operator", field="--merchant"
        )
    issued = _with_store(
        dsn,
        lambda store: store.issue(
            merchant_id=merchant or None, operator=operator, label=label or None, live=live
        ),
    )
    owner = "operator" if operator else f"merchant {issued.merchant_id}"
    err_console.print(f"issued {issued.key_id} ({owner}); the key is shown once, keep it secret:")
    typer.echo(issued.api_key)


@friendly_errors
def list_keys(
    merchant: str = typer.Option("", "--merchant", help="Only this merchant's keys"),
    include_revoked: bool = typer.Option(False, "--all", help="Revoked keys too"),
    dsn: str = DSN,
) -> None:
    """API keys (ids, never the keys): scope, merchant, label, when issued and revoked."""
    keys = _with_store(
        dsn, lambda store: store.list(merchant_id=merchant or None, include_revoked=include_revoked)
    )
    table = Table(title=f"{len(keys)} API key(s)")
    for column in ("key id", "scope", "merchant", "label", "issued", "revoked"):
        table.add_column(column)
    for key in keys:
        table.add_row(
            key.key_id,
            key.scope,
            key.merchant_id or "-",
            key.label or "-",
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "-",
        )
    console.print(table)


@friendly_errors
def revoke(
    key_id: str = typer.Argument(..., help="The key id (psk_test_<16 hex>), not the key"),
    dsn: str = DSN,
) -> None:
    """Revoke an API key: its next request gets 401. Revoking twice changes nothing."""
    info = _with_store(dsn, lambda store: store.revoke(key_id))
    assert info.revoked_at is not None
    owner = f"merchant {info.merchant_id}" if info.merchant_id else "operator"
    console.print(f"revoked {info.key_id} ({owner}) at {info.revoked_at:%Y-%m-%d %H:%M:%S %Z}")
