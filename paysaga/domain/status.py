"""Payment, onboarding and transfer status values, and the order a status may move in.

Names are stable lowercase strings: they are search-attribute values the Web UI filters on
(`PaymentStatus = 'awaiting_capture'`), so renaming one is a breaking change.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class PaymentStatus(StrEnum):
    PENDING = "pending"
    AUTHORIZING = "authorizing"
    RETRY_SCHEDULED = "retry_scheduled"
    REQUIRES_ACTION = "requires_action"
    AWAITING_CAPTURE = "awaiting_capture"
    CAPTURING = "capturing"
    PROCESSING = "processing"  # ACH debit submitted, waiting for settlement or return
    CAPTURED = "captured"
    SETTLED = "settled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    RETURNED = "returned"  # ACH return (R01 ...): money came back, ledger reversed
    CANCELED = "canceled"
    FAILED = "failed"


# Where a status sits in a payment's life. A webhook may only move a payment forward;
# statuses of equal rank are alternatives (retry loop), never an advance.
_RANK: Final[dict[PaymentStatus, int]] = {
    PaymentStatus.PENDING: 0,
    PaymentStatus.AUTHORIZING: 1,
    PaymentStatus.RETRY_SCHEDULED: 1,
    PaymentStatus.REQUIRES_ACTION: 2,
    PaymentStatus.AWAITING_CAPTURE: 3,
    PaymentStatus.CAPTURING: 4,
    PaymentStatus.PROCESSING: 5,
    PaymentStatus.CAPTURED: 6,
    PaymentStatus.SETTLED: 7,
    PaymentStatus.PARTIALLY_REFUNDED: 8,
    PaymentStatus.REFUNDED: 9,
    PaymentStatus.RETURNED: 9,
    PaymentStatus.CANCELED: 9,
    PaymentStatus.FAILED: 9,
}

FINAL_STATUSES: Final = frozenset(
    {
        PaymentStatus.REFUNDED,
        PaymentStatus.RETURNED,
        PaymentStatus.CANCELED,
        PaymentStatus.FAILED,
    }
)

# Statuses in which money has been taken and may be refunded.
REFUNDABLE_STATUSES: Final = frozenset(
    {PaymentStatus.CAPTURED, PaymentStatus.SETTLED, PaymentStatus.PARTIALLY_REFUNDED}
)


def rank(status: PaymentStatus) -> int:
    return _RANK[status]


def is_final(status: PaymentStatus) -> bool:
    return status in FINAL_STATUSES


def may_advance(current: PaymentStatus, new: PaymentStatus) -> bool:
    """True when an outside report (webhook) of `new` moves the payment forward."""
    return not is_final(current) and rank(new) > rank(current)


class OnboardingStatus(StrEnum):
    CREATING_LINK = "creating_link"
    AWAITING_PUBLIC_TOKEN = "awaiting_public_token"  # noqa: S105 (a status, not a secret)
    EXCHANGING = "exchanging"
    VERIFYING = "verifying"
    LINKING_BANK_ACCOUNT = "linking_bank_account"
    OPENING_ACCOUNTS = "opening_accounts"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELED = "canceled"
    FAILED = "failed"


class TransferStatus(StrEnum):
    PENDING = "pending"
    HOLDING = "holding"
    POSTING = "posting"
    COMPLETED = "completed"
    COMPENSATING = "compensating"
    FAILED = "failed"


class ReconciliationStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
