"""The vocabulary of activity failures: ApplicationError types and their typed details.

Activities raise ApplicationError(type=<ErrorType>, details=FailureDetails.as_details())
(encoded in activities.errors); workflows read them back through workflows.failures.classify, the
one decoder. Both sides import the names from here so a type string is spelt once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorType(StrEnum):
    """ApplicationError.type values. Exactly the class names activities have always sent:
    recorded histories and retry policies (non_retryable_error_types) match on them."""

    # paysaga.gateways.errors (card gateways and Plaid)
    GATEWAY_ERROR = "GatewayError"
    DECLINED = "Declined"
    INVALID_REQUEST = "InvalidRequest"
    IDEMPOTENCY_MISMATCH = "IdempotencyMismatch"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    RATE_LIMITED = "RateLimited"
    UNAVAILABLE = "Unavailable"
    OUTCOME_UNKNOWN = "OutcomeUnknown"
    # domain validation (any other PaysagaError)
    VALIDATION_ERROR = "ValidationError"
    # ledger.errors
    LEDGER_ERROR = "LedgerError"
    INVALID_ENTRY = "InvalidEntry"
    LEDGER_INVALID_AMOUNT = "LedgerInvalidAmount"
    UNBALANCED_ENTRY = "UnbalancedEntry"
    CURRENCY_MISMATCH = "CurrencyMismatch"
    CROSS_SHARD_ENTRY = "CrossShardEntry"
    INSUFFICIENT_FUNDS = "InsufficientFunds"
    UNKNOWN_ACCOUNT = "UnknownAccount"
    UNKNOWN_ENTRY = "UnknownEntry"
    IDEMPOTENCY_CONFLICT = "IdempotencyConflict"
    ACCOUNT_CONFLICT = "AccountConflict"
    NOT_PENDING = "NotPending"
    ALREADY_POSTED = "AlreadyPosted"
    ALREADY_VOIDED = "AlreadyVoided"
    PENDING_EXPIRED = "PendingExpired"
    NOT_REVERSIBLE = "NotReversible"
    REVERSAL_EXCEEDS_ORIGINAL = "ReversalExceedsOriginal"
    APPEND_ONLY = "AppendOnly"
    SHARD_UNAVAILABLE = "ShardUnavailable"
    # set by the workflow side: the activity timed out, it may have reached the gateway
    ACTIVITY_TIMEOUT = "ActivityTimeout"


@dataclass(frozen=True)
class FailureDetails:
    """The one detail an activity's ApplicationError carries.

    Crossing Temporal it becomes a JSON object; histories recorded before it carry the
    positional [decline_code, soft, failover] instead (both decoded by classify).
    """

    decline_code: str | None = None  # normalised decline code, for Declined
    soft: bool = False  # a soft decline may succeed later (dunning)
    failover: bool = False  # the gateway provably did nothing: another may be tried
    code: str | None = None  # the error's stable code, for ledger errors
    # The gateway's answer (or no connection at all) proves this request charged nothing:
    # a 429, a refused connection. Unlike `failover`, never a 5xx, which may follow work.
    not_charged: bool = False
    # How long after a failed request its effect may still be missing from the gateway's
    # search (the operator's bound for that gateway); None: the workflow's default.
    search_lag_s: float | None = None

    def as_details(self) -> list[object]:
        """ApplicationError details: the positional fields workflow workers older than
        FailureDetails read ([decline_code, soft, failover]; a ledger error's code first), then
        this record, which classify prefers. During a rolling deploy an old workflow
        worker may read a new activity worker's failure: without the prefix it would
        see a soft decline as a hard one and fail a payment that dunning would retry.
        """
        first = self.code if self.code is not None else self.decline_code
        return [first, self.soft, self.failover, self]
