"""api branch: bank accounts produced by onboardings, named by bank payments.

Revision ID: api_0003
Revises: api_0002
Create Date: 2026-12-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "api_0003"
down_revision = "api_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bank_accounts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("merchant_id", sa.String(32), sa.ForeignKey("merchants.id"), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("onboarding_id", sa.String(300), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner_name_match", sa.String(16), nullable=False),
        sa.Column("gateway", sa.String(20), nullable=False),
        sa.Column("gateway_customer_ref", sa.String(200), nullable=False),
        sa.Column("payment_method_ref", sa.String(200), nullable=False),
        sa.Column("plaid_item_id", sa.String(200), nullable=False),
        sa.Column("plaid_account_id", sa.String(200), nullable=False),
        sa.Column("plaid_access_token_ref", sa.String(200), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("institution_name", sa.String(200), nullable=True),
        sa.Column("account_subtype", sa.String(40), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_reason", sa.String(200), nullable=True),
        sa.UniqueConstraint("onboarding_id", name="uq_bank_accounts_onboarding"),
        sa.CheckConstraint(
            "status IN ('verified', 'unverified', 'disabled')", name="ck_bank_accounts_status"
        ),
        sa.CheckConstraint(
            "owner_name_match IN ('exact', 'partial', 'mismatch', 'unavailable')",
            name="ck_bank_accounts_owner_name_match",
        ),
        # Only the last four digits of an account number are ever stored.
        sa.CheckConstraint("last4 ~ '^[A-Za-z0-9]{0,4}$'", name="ck_bank_accounts_last4"),
    )
    op.create_index(
        "ix_bank_accounts_merchant_customer", "bank_accounts", ["merchant_id", "customer_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_bank_accounts_merchant_customer", table_name="bank_accounts")
    op.drop_table("bank_accounts")
