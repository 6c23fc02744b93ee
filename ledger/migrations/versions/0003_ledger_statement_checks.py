"""ledger: statement-level balance checks, entry and legs written by one statement

Revision ID: ledger_0003
Revises: ledger_0002
Create Date: 2026-11-23

Revision 0001 checked balance with a deferred trigger per entry plus a statement trigger
per leg insert: together about a fifth of a post's server time and, in a batch, a thousand
trigger calls at commit while every account lock is held. Now one set-based check per
INSERT statement on ledger_legs and on ledger_entries (ledger_check_legs and
ledger_check_entries say what they guarantee), so every posting function writes an entry
and its legs in one statement. The guarantee is the same (an entry is complete and
balanced, no leg is added or changed later) and now holds at the end of each statement
rather than at commit. No table changes; existing rows already satisfy the new checks
(every writer numbered legs 0..n-1). ledger_post absorbs ledger_post_simple.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.sql_functions import apply_functions, restore_functions, run_script

revision: str = "ledger_0003"
down_revision: str | Sequence[str] | None = "ledger_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Name -> digest of the file applied (see ledger.sql_functions).
FUNCTIONS = {
    "ledger_check_legs": "cce09a180e99d7f8",
    "ledger_check_entries": "30d6ebc12e69f677",
    "ledger_post": "51c8f2a57a6cf333",
    "ledger_batch_fast": "04e487540f250af4",
    "ledger_post_batch": "f2b485b4d62c40cd",
    "ledger_apply": "67daed75947ae561",
}

NEW_TRIGGERS = """
DROP TRIGGER ledger_entries_balanced ON ledger_entries;
DROP TRIGGER ledger_legs_attached ON ledger_legs;
CREATE TRIGGER ledger_legs_checked AFTER INSERT ON ledger_legs
    REFERENCING NEW TABLE AS new_legs
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_legs();
CREATE TRIGGER ledger_entries_checked AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_entries();
DROP FUNCTION IF EXISTS ledger_post_simple(jsonb);
"""

# 0001's deferred per-entry check and per-statement leg check, restored on downgrade
# (their functions stayed, as 0002 defined them).
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


def upgrade() -> None:
    # The trigger functions must exist before the triggers that call them.
    apply_functions(FUNCTIONS, revision=revision)
    run_script(NEW_TRIGGERS)


def downgrade() -> None:
    """Back to 0002: its triggers and functions, and 0001's ledger_apply."""
    run_script(OLD_TRIGGERS)
    restore_functions("ledger_apply", revision="ledger_0001")
    restore_functions(
        "ledger_batch_fast",
        "ledger_post_batch",
        "ledger_post_simple",
        "ledger_post",
        revision="ledger_0002",
    )
