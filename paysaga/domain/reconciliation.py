"""Inputs and results of reconciliation: settled items, ledger facts, matches,
exceptions and the report.

Temporal's default converter (de)serialises these by type hints, so every field is
typed precisely: ints for money, tuples for sequences, datetimes in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from paysaga.domain.routing import KNOWN_GATEWAYS, Routing
from paysaga.domain.status import ReconciliationStatus


class ExceptionKind(StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_AT_GATEWAY = "missing_at_gateway"
    AMOUNT_MISMATCH = "amount_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"
    DUPLICATE = "duplicate"
    # A gateway that could not be reconciled (listing, matching or posting failed); the
    # detail is the reason. The other gateways complete; this one is retried.
    GATEWAY_FAILED = "gateway_failed"


# Kinds of settled items (SettledItem.kind, LedgerItem.kind). A refund_failure is a refund
# the gateway gave back to our balance (Stripe balance transaction type `refund_failure`,
# https://docs.stripe.com/reports/balance-transaction-types): money in, like a charge.
CHARGE = "charge"
REFUND = "refund"
REFUND_FAILURE = "refund_failure"
INFLOW_KINDS = frozenset({CHARGE, REFUND_FAILURE})


@dataclass(frozen=True)
class ReconciliationRequest:
    """Period None means: the previous whole UTC day (what the daily schedule wants)."""

    period_start: datetime | None = None
    period_end: datetime | None = None
    gateways: tuple[str, ...] = KNOWN_GATEWAYS
    report_id: str | None = None
    routing: Routing = field(default_factory=Routing)
    signal_payments: bool = True


@dataclass(frozen=True)
class SettledItem:
    gateway: str
    reference: str
    payment_id: str | None
    kind: str  # charge | refund | refund_failure
    amount_minor: int  # gross, positive
    fee_minor: int  # what the gateway kept (negative: gave back)
    currency: str
    settled_at: datetime
    refund_reference: str | None = None


@dataclass(frozen=True)
class ListSettledInput:
    gateway: str
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True)
class SettledBatch:
    gateway: str
    items: tuple[SettledItem, ...]


@dataclass(frozen=True)
class LedgerItem:
    """One ledger fact reconciliation compares with the gateway: a capture, a refund, or the
    un-booking of a refund that failed."""

    gateway: str
    reference: str  # payment's gateway reference
    payment_id: str
    kind: str  # charge | refund | refund_failure (the un-booking of a failed refund)
    amount_minor: int
    currency: str
    entry_id: str
    refund_reference: str | None = None


@dataclass(frozen=True)
class MatchInput:
    report_id: str
    gateway: str
    period_start: datetime
    period_end: datetime
    items: tuple[SettledItem, ...]


@dataclass(frozen=True)
class MatchedItem:
    item: SettledItem
    entry_id: str
    payment_id: str


@dataclass(frozen=True)
class ReconException:
    kind: ExceptionKind
    gateway: str
    reference: str
    payment_id: str | None
    currency: str
    expected_minor: int | None = None  # ledger side
    actual_minor: int | None = None  # gateway side
    detail: str = ""


@dataclass(frozen=True)
class MatchResult:
    matched: tuple[MatchedItem, ...]
    exceptions: tuple[ReconException, ...]


@dataclass(frozen=True)
class PostSettlementInput:
    report_id: str
    gateway: str
    matched: tuple[MatchedItem, ...]


@dataclass(frozen=True)
class PostSettlementResult:
    posted: int
    fees_minor: dict[str, int] = field(default_factory=dict)  # currency -> fees


@dataclass(frozen=True)
class ReconciliationReport:
    report_id: str
    period_start: datetime
    period_end: datetime
    gateways: tuple[str, ...]
    status: ReconciliationStatus
    matched_count: int
    exceptions: tuple[ReconException, ...]
    settlements_posted: int = 0
    fees_minor: dict[str, int] = field(default_factory=dict)
    payments_signaled: int = 0
