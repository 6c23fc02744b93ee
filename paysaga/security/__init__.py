"""Payload encryption, field encryption at rest, API keys, and log redaction.

- keyring.py     keys from PAYSAGA_ENCRYPTION_KEYS: the first encrypts, all decrypt
- codec.py       AES-256-GCM PayloadCodec installed by config.temporal.connect_client
                 on every client (workers inherit it); failure messages and stack
                 traces are encrypted too (encoded failure attributes)
- codec_server.py  /encode and /decode for the Temporal Web UI, operator-only
- envelope.py, secret_store.py  per-record data keys wrapped by the KEK, in the
                 field_secrets table (Alembic branch "security"), re-wrapped on rotation
- open_workflow_keys.py  start-up check: open workflows whose payloads need a key
                 missing from PAYSAGA_ENCRYPTION_KEYS stop workers and the API
- api_keys.py    merchant and operator API keys (HMAC-SHA256 + pepper), RateLimiter
- redaction.py, secret_scan.py  nothing secret in logs, nothing live in the repository

What is deliberately NOT encrypted: search attributes (Temporal never passes them
through codecs). PaymentStatus, Gateway, AmountMinor, Currency, MerchantId,
CustomerId and LastError are visible so support can filter stuck payments;
CustomerId is a pseudonymous id, never a name, and LastError must hold an error
code, never a gateway message. Workflow ids, activity and workflow type names and task
queues are visible too.
"""
