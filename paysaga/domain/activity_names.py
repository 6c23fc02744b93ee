"""Activity names shared by workflows (which call them by name) and activities/workers.

Workflows never import the activity implementations (they do I/O); tests mock an activity
by registering a function under the same name.
"""

from __future__ import annotations

from typing import Final

# Gateway activities: run on the gateway's own task queue (rate limited per gateway).
ROUTE_PAYMENT: Final = "gateway.route"
AUTHORIZE: Final = "gateway.authorize"
CAPTURE: Final = "gateway.capture"
CANCEL: Final = "gateway.cancel"
REFUND: Final = "gateway.refund"
LOOKUP: Final = "gateway.lookup"
REFUND_STATUS: Final = "gateway.refund_status"
LIST_SETTLED: Final = "gateway.list_settled"

# Ledger activities.
LEDGER_HOLD: Final = "ledger.hold"
LEDGER_VOID: Final = "ledger.void"
LEDGER_CAPTURE: Final = "ledger.capture"
LEDGER_REVERSE: Final = "ledger.reverse"
TRANSFER_PENDING: Final = "ledger.transfer_pending"
TRANSFER_POST: Final = "ledger.transfer_post"
TRANSFER_VOID: Final = "ledger.transfer_void"
OPEN_CUSTOMER_ACCOUNTS: Final = "ledger.open_customer_accounts"

# Reconciliation (ledger side: it reads entries and writes the report).
RECON_MATCH: Final = "reconciliation.match"
RECON_POST_SETTLEMENTS: Final = "reconciliation.post_settlements"
RECON_STORE_REPORT: Final = "reconciliation.store_report"

# Plaid onboarding (gateways queue, not per-gateway).
PLAID_LINK_TOKEN: Final = "plaid.create_link_token"  # noqa: S105 (a name)
PLAID_EXCHANGE: Final = "plaid.exchange_public_token"
PLAID_VERIFY: Final = "plaid.verify_account"
PLAID_BANK_ACCOUNT: Final = "plaid.create_bank_account"
PLAID_REMIND: Final = "plaid.send_reminder"
PLAID_BALANCE: Final = "plaid.check_balance"

# Bank accounts (gateways queue: their workers reach the control database).
RECORD_BANK_ACCOUNT: Final = "bank_accounts.record"

# Benchmark baseline: does nothing, on every queue (see activities/noop.py).
BENCH_NOOP: Final = "bench.noop"
