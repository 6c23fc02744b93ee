"""The ledger's function files (ledger/sql/functions) are what a migrated database runs.

A function edited without a revision that reapplies it, a function a revision creates
without a file (or a file no revision applies), and a downgrade that does not restore
what the revision before it applied all fail here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory

import ledger.sql_functions
from ledger.migrate import alembic_config, upgrade
from ledger.sql_functions import FUNCTIONS, HISTORY, function_names

# A schema that only exists inside a rolled-back transaction: a file is created there so
# PostgreSQL parses it exactly as a migration would (nothing is extracted from its text).
SCRATCH = "ledger_function_file_check"


def _definitions(conn: psycopg.Connection, schema: str, prefix: str = "") -> dict[str, str]:
    """pg_get_functiondef of every function in `schema` whose name starts with `prefix`
    (arguments, result, language, options and body), without the schema in the header."""
    rows = conn.execute(
        "SELECT proname, pg_get_functiondef(oid) FROM pg_proc"
        " WHERE pronamespace = %s::regnamespace AND starts_with(proname, %s)",
        (schema, prefix),
    ).fetchall()
    return {name: text.replace(f"FUNCTION {schema}.", "FUNCTION ", 1) for name, text in rows}


def _file_definition(conn: psycopg.Connection, name: str, sql: str) -> str:
    """The definition `sql` (one function file's text) creates, for a function `name`."""
    with conn.transaction(force_rollback=True):
        conn.execute(f"CREATE SCHEMA {SCRATCH}")
        conn.execute(f"SET LOCAL search_path = {SCRATCH}, public")
        conn.execute(sql)  # no parameters: '%' in format() strings stays literal
        created = _definitions(conn, SCRATCH)
    assert list(created) == [name], f"{name}.sql must define {name} alone, got {list(created)}"
    return created[name]


def _same(a: str, b: str) -> bool:
    # Whitespace runs are not meaningful (line endings, trailing blanks); all else is.
    return a.split() == b.split()


def test_fresh_database_runs_the_function_files(fresh_database: str) -> None:
    upgrade(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        live = _definitions(conn, "public", prefix="ledger_")
        # No ledger function without a file, no file that no revision applies.
        assert sorted(live) == function_names()
        for name in function_names():
            sql = (FUNCTIONS / f"{name}.sql").read_text()
            assert _same(_file_definition(conn, name, sql), live[name]), (
                f"ledger/sql/functions/{name}.sql is not what a migrated database runs: the "
                f"last revision that applies {name} must apply this file (ledger/sql_functions.py)"
            )
        # The comparison is not vacuous: a changed body is told apart.
        edited = (FUNCTIONS / "ledger_raise.sql").read_text().replace("'LG000'", "'LG999'")
        assert not _same(_file_definition(conn, "ledger_raise", edited), live["ledger_raise"])


def test_function_edited_without_a_revision_fails_the_migration(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edited = tmp_path / "functions"
    shutil.copytree(FUNCTIONS, edited)
    raise_sql = edited / "ledger_raise.sql"
    raise_sql.write_text(raise_sql.read_text().replace("'LG000'", "'LG999'"))
    assert raise_sql.read_text() != (FUNCTIONS / "ledger_raise.sql").read_text()
    monkeypatch.setattr(ledger.sql_functions, "FUNCTIONS", edited)
    with pytest.raises(RuntimeError, match=r"is not the ledger_raise that ledger_\d+ applied"):
        upgrade(fresh_database)


def test_downgrades_restore_what_each_revision_applied(fresh_database: str) -> None:
    config = alembic_config(fresh_database)
    script = ScriptDirectory.from_config(config)
    revisions = [r.revision for r in script.iterate_revisions("ledger@head", "base")][::-1]
    assert {path.name for path in HISTORY.iterdir()} <= set(revisions)

    def functions() -> dict[str, str]:
        with psycopg.connect(fresh_database) as conn:
            return _definitions(conn, "public", prefix="ledger_")

    applied: dict[str, dict[str, str]] = {}
    for revision in revisions:
        upgrade(fresh_database, revision)
        applied[revision] = functions()
    for revision in reversed(revisions[:-1]):
        command.downgrade(config, revision)
        assert functions() == applied[revision], f"downgrade to {revision}"
