"""ledger: accounts, stripes, entries, legs, hash chain, posting functions

Revision ID: ledger_0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "ledger_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("ledger",)
depends_on: str | Sequence[str] | None = None

SQL = Path(__file__).resolve().parent.parent / "sql" / "0001_ledger_schema.sql"


def upgrade() -> None:
    # Triggers and PL/pgSQL cannot be expressed as SQLAlchemy DDL; run the file as one
    # script on the raw driver cursor (no parameters, so '%' in format() stays literal).
    cursor = op.get_bind().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(SQL.read_text())


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        """
        DROP TABLE IF EXISTS ledger_chain_head, ledger_chain_queue, ledger_chain, ledger_legs,
            ledger_entries, ledger_account_stripes, ledger_accounts, ledger_directory CASCADE;
        DROP FUNCTION IF EXISTS ledger_verify_chain, ledger_seal, ledger_entry_digest,
            ledger_post_batch, ledger_post, ledger_prelock, ledger_apply, ledger_result,
            ledger_check_legs_attached, ledger_check_entry_balanced, ledger_append_only,
            ledger_raise CASCADE;
        """
    )
