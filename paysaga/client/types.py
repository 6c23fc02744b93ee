"""Client results that are not workflow payloads: list rows and started reconciliations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PaymentSummary:
    """One row of `list_payments`, from the workflow's search attributes (no worker needed)."""

    payment_id: str
    status: str | None
    amount_minor: int | None
    currency: str | None
    customer_id: str | None
    gateway: str | None
    merchant_id: str | None
    last_error: str | None
    started_at: datetime | None
    running: bool


@dataclass(frozen=True)
class ReconciliationStarted:
    reconciliation_id: str
    period: str
    already_running: bool
