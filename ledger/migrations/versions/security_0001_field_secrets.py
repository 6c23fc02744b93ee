"""security branch: envelope-encrypted secrets at rest (Plaid tokens, bank details, ...).

Revision ID: security_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "security_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("security",)
depends_on: str | Sequence[str] | None = None

# Kept as SQL so security.secret_store can state the same DDL in one place for readers.
DDL = """
CREATE TABLE field_secrets (
    record_id   text PRIMARY KEY CHECK (length(record_id) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
    kek_id      text NOT NULL,
    wrapped_dek bytea NOT NULL,
    nonce       bytea NOT NULL CHECK (length(nonce) = 12),
    ciphertext  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz
);
CREATE INDEX field_secrets_kek_id ON field_secrets (kek_id);
COMMENT ON TABLE field_secrets IS
    'Envelope-encrypted secrets: per-record data key wrapped by the KEK named in kek_id';
"""


def upgrade() -> None:
    op.execute(DDL)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS field_secrets")
