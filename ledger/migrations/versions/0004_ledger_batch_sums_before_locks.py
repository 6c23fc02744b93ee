"""ledger: batch running sums computed before the account locks

Revision ID: ledger_0004
Revises: ledger_0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "ledger_0004"
down_revision: str | Sequence[str] | None = "ledger_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SQL = SQL_DIR / "0004_ledger_batch_sums_before_locks.sql"


def _run(script: str) -> None:
    # PL/pgSQL as one script on the raw driver cursor (no parameters: '%' stays literal).
    cursor = op.get_bind().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(script)


def upgrade() -> None:
    _run(SQL.read_text())


def downgrade() -> None:
    """Restore 0003's ledger_batch_fast."""
    previous = (SQL_DIR / "0003_ledger_statement_checks.sql").read_text()
    match = re.search(
        r"CREATE OR REPLACE FUNCTION ledger_batch_fast\(.*?AS \$\$.*?\$\$;", previous, re.S
    )
    assert match is not None
    _run(match.group(0))
