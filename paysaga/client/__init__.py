"""The Python client of paysaga: start, drive and inspect payments from application code."""

from paysaga.client.client import PaysagaClient
from paysaga.client.errors import (
    IdempotencyConflict,
    InvalidState,
    PaymentFailed,
    PaymentNotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from paysaga.client.sync import SyncPaysagaClient
from paysaga.client.types import PaymentSummary, ReconciliationStarted

__all__ = [
    "IdempotencyConflict",
    "InvalidState",
    "PaymentFailed",
    "PaymentNotFound",
    "PaymentSummary",
    "PaysagaClient",
    "ReconciliationStarted",
    "ServiceUnavailable",
    "SyncPaysagaClient",
    "TooManyRequests",
    "Unauthorized",
]
