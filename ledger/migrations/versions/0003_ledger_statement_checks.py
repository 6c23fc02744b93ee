"""ledger: statement-level balance checks, entry and legs written by one statement

Revision ID: ledger_0003
Revises: ledger_0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "ledger_0003"
down_revision: str | Sequence[str] | None = "ledger_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
SQL = SQL_DIR / "0003_ledger_statement_checks.sql"

# 0001's deferred per-entry check and per-statement leg check, restored on downgrade.
OLD_TRIGGERS = """
DROP TRIGGER ledger_legs_checked ON ledger_legs;
DROP TRIGGER ledger_entries_checked ON ledger_entries;
DROP FUNCTION ledger_check_legs(), ledger_check_entries();
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced();
CREATE TRIGGER ledger_legs_attached AFTER INSERT ON ledger_legs
    REFERENCING NEW TABLE AS new_legs
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_legs_attached();
"""


def _run(script: str) -> None:
    # PL/pgSQL as one script on the raw driver cursor (no parameters: '%' stays literal).
    cursor = op.get_bind().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(script)


def upgrade() -> None:
    _run(SQL.read_text())


def downgrade() -> None:
    """Back to 0002: its functions (rerun as they are), 0001's ledger_apply and triggers."""
    base = (SQL_DIR / "0001_ledger_schema.sql").read_text()
    match = re.search(r"CREATE FUNCTION ledger_apply\(.*?AS \$\$.*?\$\$;", base, re.S)
    assert match is not None
    apply = match.group(0).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    _run(OLD_TRIGGERS + apply + "\n" + (SQL_DIR / "0002_ledger_fast_paths.sql").read_text())
