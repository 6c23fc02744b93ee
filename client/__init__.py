"""The Python client of paysaga: start, drive and inspect payments from application code."""

from client.client import PaysagaClient
from client.errors import (
    IdempotencyConflict,
    InvalidState,
    PaymentNotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from client.sync import SyncPaysagaClient
from client.types import PaymentSummary, ReconciliationStarted

__all__ = [
    "IdempotencyConflict",
    "InvalidState",
    "PaymentNotFound",
    "PaymentSummary",
    "PaysagaClient",
    "RateLimited",
    "ReconciliationStarted",
    "SyncPaysagaClient",
    "Unauthorized",
    "Unavailable",
]
