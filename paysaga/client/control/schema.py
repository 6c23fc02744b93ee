"""SQLAlchemy models of the control tables; the schema itself comes only from Alembic."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class ControlBase(DeclarativeBase):
    pass


class Merchant(ControlBase):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApiKey(ControlBase):
    """One API key; only its hash is stored. `id` is the public prefix used for lookup.

    scope `merchant`: acts for `merchant_id`; scope `operator`: platform operations
    (reconciliation), no merchant.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(
        ForeignKey("merchants.id"), index=True, nullable=True
    )
    scope: Mapped[str] = mapped_column(String(16), server_default="merchant")
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    key_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class IdempotencyRecord(ControlBase):
    """merchant + scope + Idempotency-Key -> hash of the first body and what it created."""

    __tablename__ = "idempotency_records"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookEvent(ControlBase):
    """A verified webhook, recorded once per (provider, event id)."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_webhook_events_event"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100))
    payload_hash: Mapped[str] = mapped_column(String(64))
    workflow_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivery_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class BankAccountRow(ControlBase):
    """A bank account an onboarding produced, owned by (merchant, customer); what a bank
    payment names. No account or routing number: the last four digits only, and the
    Plaid access token only as its secret-store id."""

    __tablename__ = "bank_accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[str] = mapped_column(String(64))
    onboarding_id: Mapped[str] = mapped_column(String(300))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    owner_name_match: Mapped[str] = mapped_column(String(16))
    gateway: Mapped[str] = mapped_column(String(20))
    gateway_customer_ref: Mapped[str] = mapped_column(String(200))
    payment_method_ref: Mapped[str] = mapped_column(String(200))
    plaid_item_id: Mapped[str] = mapped_column(String(200))
    plaid_account_id: Mapped[str] = mapped_column(String(200))
    plaid_access_token_ref: Mapped[str] = mapped_column(String(200))
    last4: Mapped[str] = mapped_column(String(4))
    institution_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    account_subtype: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    status_changed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    status_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
