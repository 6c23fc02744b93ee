"""ledger: accounts, stripes, entries, legs, hash chain, posting functions

Revision ID: ledger_0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alembic import op

from ledger.sql_functions import apply_functions, run_script

revision: str = "ledger_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("ledger",)
depends_on: str | Sequence[str] | None = None

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

# Name -> digest of the file applied (see ledger.sql_functions), in creation order:
# SQL-language functions are checked when created, so the tables and the functions they
# call (ledger_post calls ledger_apply) come first.
FUNCTIONS = {
    "ledger_raise": "fc85223f5d5754b2",
    "ledger_append_only": "c0a368a622be9731",
    "ledger_check_entry_balanced": "181f83134e36ea2a",
    "ledger_check_legs_attached": "e7293798d458d902",
    "ledger_result": "c234f416dbd92d8b",
    "ledger_apply": "f5f50928f2274b7a",
    "ledger_prelock": "eabcb5b62e39189c",
    "ledger_post": "710c91dd860947f2",
    "ledger_post_batch": "6b5706fe1ef985a1",
    "ledger_entry_digest": "577f12ded9bcac82",
    "ledger_seal": "a57a0a16303c7ebf",
    "ledger_verify_chain": "196384d3ff4b8b8c",
}


def upgrade() -> None:
    run_script((SQL_DIR / "0001_ledger_schema.sql").read_text())
    apply_functions(FUNCTIONS, revision=revision)
    run_script((SQL_DIR / "0001_ledger_triggers.sql").read_text())


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
