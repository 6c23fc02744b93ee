"""ledger: one-query invariant triggers, set-based batch path, two-leg posting fast path

Revision ID: ledger_0002
Revises: ledger_0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "ledger_0002"
down_revision: str | Sequence[str] | None = "ledger_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SQL = SQL_DIR / "0002_ledger_fast_paths.sql"
REPLACED = (
    "ledger_check_entry_balanced",
    "ledger_check_legs_attached",
    "ledger_post_batch",
    "ledger_post",
)


def _run(script: str) -> None:
    # PL/pgSQL as one script on the raw driver cursor (no parameters: '%' stays literal).
    cursor = op.get_bind().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(script)


def upgrade() -> None:
    _run(SQL.read_text())


def downgrade() -> None:
    """Restore revision 0001's definitions of the replaced functions."""
    base = (SQL_DIR / "0001_ledger_schema.sql").read_text()
    bodies = []
    for name in REPLACED:
        match = re.search(rf"CREATE FUNCTION {name}\(.*?AS \$\$.*?\$\$;", base, re.S)
        assert match is not None, name
        bodies.append(match.group(0).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    drops = "DROP FUNCTION IF EXISTS ledger_batch_fast(jsonb), ledger_post_simple(jsonb);\n"
    _run(drops + "\n".join(bodies))
