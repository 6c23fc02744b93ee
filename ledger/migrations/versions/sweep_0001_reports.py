"""sweep branch: stored sweep reports (one row per run, findings inline).

Revision ID: sweep_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "sweep_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("sweep",)
depends_on: str | Sequence[str] | None = None

DDL = """
CREATE TABLE sweep_reports (
    sweep_id      text PRIMARY KEY CHECK (length(sweep_id) BETWEEN 1 AND 200),
    started_at    timestamptz NOT NULL,
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL,
    gateways      text[] NOT NULL,
    examined      integer NOT NULL CHECK (examined >= 0),
    unresolved    integer NOT NULL CHECK (unresolved >= 0),
    counts        jsonb NOT NULL DEFAULT '{}'::jsonb,
    findings      jsonb NOT NULL DEFAULT '[]'::jsonb,
    dry_run       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (window_start <= window_end)
);
CREATE INDEX sweep_reports_started ON sweep_reports (started_at);
"""


def upgrade() -> None:
    op.execute(DDL)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS sweep_reports")
