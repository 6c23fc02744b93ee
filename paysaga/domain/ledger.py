"""Inputs and results of the ledger activities, and of the cross-shard transfer saga.

Temporal's default converter (de)serialises these by type hints, so every field is
typed precisely: ints for money, tuples for sequences, datetimes in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from paysaga.domain.errors import ValidationError
from paysaga.domain.money import validate_amount, validate_currency
from paysaga.domain.payments import StepRecord
from paysaga.domain.routing import Routing
from paysaga.domain.status import TransferStatus


@dataclass(frozen=True)
class LedgerHoldInput:
    payment_id: str
    idempotency_key: str
    merchant_id: str
    customer_id: str
    gateway: str
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class LedgerVoidInput:
    payment_id: str
    idempotency_key: str
    entry_id: str


@dataclass(frozen=True)
class LedgerCaptureInput:
    """Post the capture: settle the pending hold for the captured amount."""

    payment_id: str
    idempotency_key: str
    hold_entry_id: str | None
    merchant_id: str
    gateway: str
    gateway_reference: str
    amount_minor: int
    currency: str
    # What the entry books (its metadata kind): a charge, or (without a hold) the
    # un-booking of a refund that failed at the gateway, "refund_failure", which names
    # the refund so reconciliation matches it to the gateway's refund_failure.
    kind: str = "charge"
    refund_reference: str | None = None


@dataclass(frozen=True)
class LedgerReversalInput:
    """Reverse (part of) a captured payment: a refund or an ACH return."""

    payment_id: str
    idempotency_key: str
    merchant_id: str
    gateway: str
    gateway_reference: str
    amount_minor: int
    currency: str
    reason: str  # refund | ach_return
    refund_reference: str | None = None
    entry_id: str | None = None  # the capture entry being reversed


@dataclass(frozen=True)
class LedgerEntryRef:
    entry_id: str
    shard: int | None = None


@dataclass(frozen=True)
class TransferRequest:
    transfer_id: str
    from_account: str
    to_account: str
    amount_minor: int
    currency: str
    description: str = ""
    routing: Routing = field(default_factory=Routing)

    def validate(self) -> None:
        if not self.transfer_id:
            raise ValidationError("transfer_id is required", field="transfer_id")
        if self.from_account == self.to_account:
            raise ValidationError("from and to accounts must differ", field="to_account")
        validate_amount(self.amount_minor)
        validate_currency(self.currency)


TransferSide = Literal["source", "destination"]


@dataclass(frozen=True)
class TransferLegInput:
    """One shard's half of a cross-shard transfer (pending, post or void)."""

    transfer_id: str
    side: TransferSide
    from_account: str
    to_account: str
    amount_minor: int
    currency: str
    entry_id: str | None = None  # for post / void


@dataclass(frozen=True)
class TransferView:
    transfer_id: str
    status: TransferStatus
    steps: tuple[StepRecord, ...] = ()
    source_entry_id: str | None = None
    destination_entry_id: str | None = None
    last_error: str | None = None
