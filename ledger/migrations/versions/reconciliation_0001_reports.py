"""reconciliation branch: stored reconciliation reports (one row per run, exceptions inline).

Revision ID: reconciliation_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "reconciliation_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("reconciliation",)
depends_on: str | Sequence[str] | None = None

DDL = """
CREATE TABLE reconciliation_reports (
    report_id        text PRIMARY KEY CHECK (length(report_id) BETWEEN 1 AND 200),
    period_start     timestamptz NOT NULL,
    period_end       timestamptz NOT NULL,
    gateways         text[] NOT NULL,
    status           text NOT NULL,
    matched_count    integer NOT NULL CHECK (matched_count >= 0),
    exception_count  integer NOT NULL CHECK (exception_count >= 0),
    settlements      integer NOT NULL DEFAULT 0,
    fees_minor       jsonb NOT NULL DEFAULT '{}'::jsonb,
    exceptions       jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (period_start < period_end)
);
CREATE INDEX reconciliation_reports_period ON reconciliation_reports (period_start, period_end);
"""


def upgrade() -> None:
    op.execute(DDL)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS reconciliation_reports")
