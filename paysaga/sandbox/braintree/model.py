"""The Braintree sandbox's objects: vaulted cards and transactions.

Pickled across restarts (`persistence`): keep the field names.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

SETTLING_STATES = ("submitted_for_settlement", "settling", "settlement_pending")


def now() -> datetime:
    # Braintree timestamps have whole seconds; searches compare at that grain.
    return datetime.now(UTC).replace(microsecond=0)


def new_id() -> str:
    return secrets.token_hex(4)


@dataclass
class Card:
    token: str | None
    customer_id: str | None
    bin: str
    last_4: str
    card_type: str
    nonce: str  # what it was vaulted from: decides its charge outcome
    created_at: datetime


@dataclass
class Txn:
    id: str
    type: str  # sale | credit
    status: str
    amount_minor: int
    currency: str
    merchant_account_id: str
    order_id: str | None
    card: Card
    created_at: datetime
    updated_at: datetime
    processor_code: str
    rejection_reason: str | None = None
    history: list[tuple[str, int, datetime]] = field(default_factory=list)
    refund_ids: list[str] = field(default_factory=list)
    refunded_transaction_id: str | None = None
    settlement_batch_id: str | None = None
    times: dict[str, datetime] = field(default_factory=dict)  # status -> when
    disbursement_date: date | None = None
    dropped: bool = False  # tampered: hidden from the settlement listing
    # Precise creation time for the search visibility lag; None (state files from
    # before it existed): searchable at once.
    created_ts: float | None = None

    def move(self, status: str, amount: int) -> None:
        """Enter `status`, stamped and recorded in the status history."""
        stamp = now()
        self.status = status
        self.updated_at = stamp
        self.times[status] = stamp
        self.history.append((status, amount, stamp))
