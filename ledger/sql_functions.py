"""The ledger's SQL functions: one canonical file per function, applied by migrations.

ledger/sql/functions/<name>.sql is the definition every database at head runs: one
CREATE OR REPLACE FUNCTION, with its comment. Revisions keep the schema (tables,
indexes, triggers) and name the functions they apply, each with the digest of the file
they applied: a function edited without a revision then fails the migration of a new
database, instead of giving it a function the databases already migrated do not have
(the comment lines a file starts with are not pinned: PostgreSQL does not store them).
tests/ledger/test_sql_functions.py checks that a freshly migrated database runs exactly
these files and that every downgrade restores what the revision before it applied.

ledger/sql/history/<revision>/<name>.sql keeps a definition a later revision replaced,
as <revision> applied it: that revision's upgrade applies it (so a new database passes
through the same states as the databases migrated back then) and the replacing
revision's downgrade restores it. History files are never edited.

To change function F, whose current file revision R applies:
1. copy functions/F.sql to history/R/F.sql (R's upgrade picks the copy up);
2. edit functions/F.sql, so the change reads as the diff of one file;
3. add a revision: upgrade() calls apply_functions({"F": "<digest>"}, revision=revision)
   and downgrade() calls restore_functions("F", revision="R").
`python -m ledger.sql_functions` prints the digests of the current files. A new function
is a new file applied by a new revision, whose downgrade drops it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from itertools import dropwhile
from pathlib import Path

from alembic import op

SQL_DIR = Path(__file__).resolve().parent / "sql"
FUNCTIONS = SQL_DIR / "functions"
HISTORY = SQL_DIR / "history"


def function_names() -> list[str]:
    """The canonical set: every function a database at head has, by name."""
    return sorted(path.stem for path in FUNCTIONS.glob("*.sql"))


def function_path(name: str, *, revision: str) -> Path:
    """The file of `name` as `revision` applies it: its history copy if a later revision
    replaced it, else the canonical file."""
    snapshot = HISTORY / revision / f"{name}.sql"
    return snapshot if snapshot.exists() else FUNCTIONS / f"{name}.sql"


def digest(sql: str) -> str:
    """Fingerprint of what a function file creates: its text after the leading comment
    lines (documentation, which PostgreSQL does not store), whitespace runs collapsed."""
    lines = dropwhile(lambda line: not line.strip() or line.startswith("--"), sql.splitlines())
    return hashlib.sha256(" ".join(" ".join(lines).split()).encode()).hexdigest()[:16]


def run_script(script: str) -> None:
    """Run SQL in the migration's transaction on the raw driver cursor.

    Triggers and PL/pgSQL cannot be expressed as SQLAlchemy DDL, and without parameters
    the driver leaves '%' in format() strings alone.
    """
    dbapi = op.get_bind().connection.dbapi_connection
    assert dbapi is not None  # an open connection inside a migration
    dbapi.cursor().execute(script)


def apply_functions(pins: Mapping[str, str], *, revision: str) -> None:
    """Upgrade: create or replace each function of `pins` (name -> digest), in order, as
    `revision` applies it; a file whose digest differs was edited without a revision."""
    scripts = []
    for name, pin in pins.items():
        path = function_path(name, revision=revision)
        sql = path.read_text()
        if digest(sql) != pin:
            raise RuntimeError(
                f"{path} (digest {digest(sql)}) is not the {name} that {revision} applied"
                f" (digest {pin}): to change a function, see ledger/sql_functions.py"
            )
        scripts.append(sql)
    run_script("\n".join(scripts))


def restore_functions(*names: str, revision: str) -> None:
    """Downgrade: put back `names` as `revision` applied them before a later revision
    replaced them (their history copies, which must exist)."""
    missing = [name for name in names if not (HISTORY / revision / f"{name}.sql").exists()]
    if missing:
        raise FileNotFoundError(f"no history copy in {HISTORY / revision} of {missing}")
    run_script("\n".join((HISTORY / revision / f"{name}.sql").read_text() for name in names))


if __name__ == "__main__":
    # Digests of the current files, to pin in the revision that applies them.
    for function in function_names():
        print(f'    "{function}": "{digest((FUNCTIONS / f"{function}.sql").read_text())}",')
