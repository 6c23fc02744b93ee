"""The control database (shard 0): merchants, API keys, idempotency records, webhook events.

Its schema is the `api` Alembic branch in `ledger/migrations/versions/`.
"""
