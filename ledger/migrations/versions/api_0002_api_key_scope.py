"""api branch: API keys get a scope (merchant or operator) and a label; operator keys
belong to no merchant.

Revision ID: api_0002
Revises: api_0001
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "api_0002"
down_revision = "api_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing keys are merchant keys: the default keeps them working unchanged.
    op.add_column(
        "api_keys",
        sa.Column("scope", sa.String(16), nullable=False, server_default="merchant"),
    )
    op.add_column("api_keys", sa.Column("label", sa.String(200), nullable=True))
    op.alter_column("api_keys", "merchant_id", existing_type=sa.String(32), nullable=True)
    op.create_check_constraint("ck_api_keys_scope", "api_keys", "scope IN ('merchant', 'operator')")
    op.create_check_constraint(
        "ck_api_keys_scope_owner", "api_keys", "(scope = 'merchant') = (merchant_id IS NOT NULL)"
    )


def downgrade() -> None:
    op.execute("DELETE FROM api_keys WHERE scope = 'operator'")
    op.drop_constraint("ck_api_keys_scope_owner", "api_keys", type_="check")
    op.drop_constraint("ck_api_keys_scope", "api_keys", type_="check")
    op.alter_column("api_keys", "merchant_id", existing_type=sa.String(32), nullable=False)
    op.drop_column("api_keys", "label")
    op.drop_column("api_keys", "scope")
