"""Alembic environment for every paysaga schema branch (ledger and the others).

The database URL comes from, in order: config attribute `dsn` (programmatic use in
ledger.migrate), `-x dsn=...`, the first of PAYSAGA_DATABASE_URLS. Migrations run under
a session advisory lock so workers starting together do not race.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool, text

from ledger.dsn import sqlalchemy_url
from ledger.models import Base

# One lock id for all schema changes of a database ("paysaga" in ASCII).
MIGRATION_LOCK_ID = 0x7061797361676100

config = context.config
target_metadata = Base.metadata


def _dsn() -> str:
    explicit = config.attributes.get("dsn") or context.get_x_argument(as_dictionary=True).get("dsn")
    if explicit:
        return str(explicit)
    urls = [u.strip() for u in os.environ.get("PAYSAGA_DATABASE_URLS", "").split(",") if u.strip()]
    if not urls:
        raise SystemExit("set -x dsn=... or PAYSAGA_DATABASE_URLS to the shard to migrate")
    return urls[0]


def run_migrations_offline() -> None:
    context.configure(
        url=sqlalchemy_url(_dsn()), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(sqlalchemy_url(_dsn()), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
            try:
                context.configure(connection=connection, target_metadata=target_metadata)
                with context.begin_transaction():
                    context.run_migrations()
                connection.commit()
            finally:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
                connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
