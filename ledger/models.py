"""SQLAlchemy 2 typed models: the schema of one ledger shard.

The hot path does not go through the ORM: it calls the PL/pgSQL posting function
(see ledger/sql/functions). These models describe the tables for Alembic, for readers and
for the schema drift test; the migration is the source of truth for triggers,
functions and indexes that SQLAlchemy cannot express.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData()


class DirectoryEntry(Base):
    """Which shard holds an account (kept on shard 0)."""

    __tablename__ = "ledger_directory"

    account_id: Mapped[str] = mapped_column(Text, primary_key=True)
    shard: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class _Balances:
    debits_posted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    credits_posted: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    debits_pending: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    credits_pending: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class Account(_Balances, Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    currency: Mapped[str] = mapped_column(Text)
    normal_side: Mapped[str] = mapped_column(Text)
    flags: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    hot: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    stripes: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, server_default=text("'{}'::jsonb")
    )
    definition_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AccountStripe(_Balances, Base):
    """One of the K sub-balances of a hot account."""

    __tablename__ = "ledger_account_stripes"

    account_id: Mapped[str] = mapped_column(
        Text, ForeignKey("ledger_accounts.id"), primary_key=True
    )
    stripe: Mapped[int] = mapped_column(SmallInteger, primary_key=True)


class Entry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="ledger_entries_idempotency_key_key"),
        CheckConstraint(
            "(kind IN ('post_pending', 'void_pending')) = (pending_id IS NOT NULL)",
            name="ledger_entries_pending_ref",
        ),
        CheckConstraint(
            "(kind = 'reversal') = (reverses_id IS NOT NULL)", name="ledger_entries_reversal_ref"
        ),
        Index(
            "ledger_entries_one_resolution",
            "pending_id",
            unique=True,
            postgresql_where=text("pending_id IS NOT NULL"),
        ),
        Index(
            "ledger_entries_reverses",
            "reverses_id",
            postgresql_where=text("reverses_id IS NOT NULL"),
        ),
        Index("ledger_entries_effective_at", "effective_at"),
        Index(
            "ledger_entries_metadata",
            "metadata",
            postgresql_using="gin",
            postgresql_ops={"metadata": "jsonb_path_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(Text)
    body_hash: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    pending_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("ledger_entries.id"))
    reverses_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("ledger_entries.id"))
    leg_count: Mapped[int] = mapped_column(SmallInteger)
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, server_default=text("'{}'::jsonb")
    )
    effective_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class EntryLeg(Base):
    __tablename__ = "ledger_legs"
    __table_args__ = (
        Index(
            "ledger_legs_account",
            "account_id",
            "entry_id",
            postgresql_ops={"account_id": "text_pattern_ops"},
        ),
    )

    entry_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    leg_no: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    account_id: Mapped[str] = mapped_column(Text)
    stripe: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    direction: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text)
    posted_amount: Mapped[int] = mapped_column(BigInteger)
    pending_amount: Mapped[int] = mapped_column(BigInteger)
    debits_posted_after: Mapped[int] = mapped_column(BigInteger)
    credits_posted_after: Mapped[int] = mapped_column(BigInteger)
    debits_pending_after: Mapped[int] = mapped_column(BigInteger)
    credits_pending_after: Mapped[int] = mapped_column(BigInteger)
    version_after: Mapped[int] = mapped_column(BigInteger)


class ChainLink(Base):
    __tablename__ = "ledger_chain"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_entries.id"), unique=True)
    content_hash: Mapped[bytes] = mapped_column(LargeBinary)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary)
    hash: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ChainQueue(Base):
    """Entries written but not yet sealed into the chain."""

    __tablename__ = "ledger_chain_queue"

    entry_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class ChainHead(Base):
    __tablename__ = "ledger_chain_head"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[bytes] = mapped_column(LargeBinary)
