"""DSN spellings: psycopg wants postgresql://, SQLAlchemy wants postgresql+psycopg://."""

from __future__ import annotations


def libpq_dsn(dsn: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql://" + dsn[len(prefix) :]
    return dsn


def sqlalchemy_url(dsn: str) -> str:
    return "postgresql+psycopg://" + libpq_dsn(dsn)[len("postgresql://") :]


def redact(dsn: str) -> str:
    """Host/port/database only: a DSN may carry a password."""
    return libpq_dsn(dsn).split("@")[-1]
