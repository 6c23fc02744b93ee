"""ledger: batch running sums computed before the account locks

Revision ID: ledger_0004
Revises: ledger_0003
Create Date: 2026-11-23

A batch that touches many accounts holds their locks until commit and every concurrent
batch touching one of them waits, so time under the locks is what limits batch
throughput. The window functions over all legs were the largest part of it and need no
balance: ledger_batch_fast now computes them before taking the locks. No table changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.sql_functions import apply_functions, restore_functions

revision: str = "ledger_0004"
down_revision: str | Sequence[str] | None = "ledger_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    apply_functions({"ledger_batch_fast": "1bdb2d5812ab7fea"}, revision=revision)


def downgrade() -> None:
    restore_functions("ledger_batch_fast", revision="ledger_0003")
