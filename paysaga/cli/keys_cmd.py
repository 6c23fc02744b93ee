"""`paysaga keys`: API keys (issue, list, revoke: cli.api_keys_cmd) and encryption keys
(generate a new one, re-wrap secrets after a rotation, show status).

Rotation, step by step (README, "Rotating encryption keys"):
  1. `paysaga keys generate`; add it to PAYSAGA_ENCRYPTION_KEYS of every process, after
     the current key, restart; then move it FIRST and restart again.
  2. `paysaga keys rewrap` moves every field-encrypted record to the new key.
  3. Retire an old key only once `paysaga keys status` shows no record under it
     and no running workflow is older than the rotation (payloads are not re-written);
     workers and the API refuse to start while an open workflow needs a missing key.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
import typer
from rich.table import Table

from paysaga.cli import api_keys_cmd
from paysaga.cli.console import console, err_console, friendly_errors
from paysaga.config.settings import load_settings
from paysaga.domain.errors import ConfigurationError
from paysaga.security.keyring import KEY_BYTES, Keyring
from paysaga.security.secret_store import SecretStore

T = TypeVar("T")

keys_app = typer.Typer(
    help="API keys (issue, list, revoke) and encryption keys (generate, rewrap, status).",
    no_args_is_help=True,
)
keys_app.command("issue")(api_keys_cmd.issue)
keys_app.command("list")(api_keys_cmd.list_keys)
keys_app.command("revoke")(api_keys_cmd.revoke)


def _shard0(dsn: str | None) -> str:
    return dsn or load_settings().shard_urls()[0]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a store call, turning database trouble into one line naming the setting."""
    try:
        return asyncio.run(coro)
    except psycopg.errors.UndefinedTable:
        raise ConfigurationError(
            "table field_secrets is missing: run `paysaga migrate` first",
            field="PAYSAGA_DATABASE_URLS",
        ) from None
    except psycopg.OperationalError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigurationError(
            f"PAYSAGA_DATABASE_URLS: cannot reach shard 0: {first}",
            field="PAYSAGA_DATABASE_URLS",
        ) from None


@keys_app.command()
def generate(
    key_id: str = typer.Option("", "--id", help="Key id (default: k<date>-<random>)."),
) -> None:
    """Print a new 256-bit key as `keyid:base64`, ready for PAYSAGA_ENCRYPTION_KEYS."""
    key_id = key_id or f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(2)}"
    if ":" in key_id or "," in key_id:
        raise typer.BadParameter("a key id cannot contain ':' or ','", param_hint="--id")
    material = base64.b64encode(os.urandom(KEY_BYTES)).decode()
    # Only the key on stdout, so `$(paysaga keys generate)` captures it cleanly.
    typer.echo(f"{key_id}:{material}")
    err_console.print(
        "[dim]put it first in PAYSAGA_ENCRYPTION_KEYS, keep the old keys after it, "
        "then run `paysaga keys rewrap`[/]"
    )


@keys_app.command()
@friendly_errors
def rewrap(
    dsn: str = typer.Option("", help="Database holding the secrets (default: shard 0)."),
) -> None:
    """Re-wrap every field-encrypted secret under the first (current) key."""
    settings = load_settings()
    store = SecretStore(_shard0(dsn or None), Keyring.from_settings(settings))
    count = _run(store.rewrap_all())
    by_key = _run(store.count_by_key())
    console.print(
        f"re-wrapped [bold]{count}[/] record(s) under key [bold]{store.keyring.current.key_id}[/]; "
        f"records per key: {by_key or '{}'}"
    )


@keys_app.command()
@friendly_errors
def status(
    dsn: str = typer.Option("", help="Database holding the secrets (default: shard 0)."),
) -> None:
    """Configured key ids (never the keys) and how many secrets each one wraps."""
    settings = load_settings()
    keyring = Keyring.from_settings(settings)
    by_key = _run(SecretStore(_shard0(dsn or None), keyring).count_by_key())
    table = Table(title="encryption keys")
    for column in ("key id", "role", "secrets wrapped"):
        table.add_column(column)
    for index, key_id in enumerate(keyring.key_ids):
        table.add_row(key_id, "encrypts" if index == 0 else "decrypts", str(by_key.get(key_id, 0)))
    for key_id in sorted(set(by_key) - set(keyring.key_ids)):
        table.add_row(key_id, "[red]NOT CONFIGURED[/]", str(by_key[key_id]))
    console.print(table)
