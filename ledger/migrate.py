"""Programmatic Alembic: `upgrade heads` on one shard or on all of them.

Used by tests, `paysaga up`, `paysaga migrate` and workers. Every schema branch in
ledger/migrations/versions (the ledger's and other teams') is applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import psycopg
import structlog
from alembic import command
from alembic.config import Config

from ledger.dsn import libpq_dsn, redact
from paysaga.domain.errors import ConfigurationError

log = structlog.get_logger()

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(dsn: str) -> Config:
    """An Alembic config that does not depend on the current directory or alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_locations", str(MIGRATIONS / "versions"))
    config.set_main_option("path_separator", "os")
    config.attributes["dsn"] = dsn
    return config


def _check_reachable(dsn: str) -> None:
    try:
        with psycopg.connect(libpq_dsn(dsn), connect_timeout=10):
            pass
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigurationError(
            f"cannot reach ledger shard {redact(dsn)} (PAYSAGA_DATABASE_URLS): {first}",
            field="PAYSAGA_DATABASE_URLS",
        ) from None


def upgrade(dsn: str, revision: str = "heads") -> None:
    _check_reachable(dsn)
    command.upgrade(alembic_config(dsn), revision)
    log.info("ledger.migrated", shard=redact(dsn), revision=revision)


def upgrade_all(dsns: Iterable[str]) -> None:
    for dsn in dsns:
        upgrade(dsn)
