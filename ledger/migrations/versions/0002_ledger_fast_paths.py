"""ledger: one-query invariant triggers, set-based batch path, two-leg posting fast path

Revision ID: ledger_0002
Revises: ledger_0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.sql_functions import apply_functions, restore_functions, run_script

revision: str = "ledger_0002"
down_revision: str | Sequence[str] | None = "ledger_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Functions only, no table changes (name -> digest of the file applied).
FUNCTIONS = {
    "ledger_check_entry_balanced": "57b90ea95e657e7c",
    "ledger_check_legs_attached": "a88a2b511aa3f479",
    "ledger_batch_fast": "d60179e7f1da8478",
    "ledger_post_batch": "59644d02f10ea499",
    "ledger_post_simple": "5f07afe7f2120881",
    "ledger_post": "92a9dd60bb95dc8f",
}


def upgrade() -> None:
    apply_functions(FUNCTIONS, revision=revision)


def downgrade() -> None:
    """Drop the added functions, restore revision 0001's definitions of the replaced ones."""
    run_script("DROP FUNCTION IF EXISTS ledger_batch_fast(jsonb), ledger_post_simple(jsonb);")
    restore_functions(
        "ledger_check_entry_balanced",
        "ledger_check_legs_attached",
        "ledger_post_batch",
        "ledger_post",
        revision="ledger_0001",
    )
