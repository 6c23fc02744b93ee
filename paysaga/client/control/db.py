"""Async engine on the control database (shard 0) through psycopg 3."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(dsn: str) -> str:
    """Any PostgreSQL DSN as SQLAlchemy's psycopg (async-capable) URL."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix) :]
    return dsn


def control_engine(dsn: str, *, pool_size: int = 5) -> AsyncEngine:
    return create_async_engine(
        async_url(dsn), pool_size=pool_size, max_overflow=5, pool_pre_ping=True
    )
