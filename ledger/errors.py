"""Typed ledger errors with stable codes.

The PL/pgSQL functions raise SQLSTATE LG000 with the code as the message and a human
detail; `from_sql_error` turns that into the matching class below.
"""

from __future__ import annotations

from paysaga.domain.errors import Conflict, InvalidAmount, NotFound, PaysagaError, ValidationError

# The SQLSTATE our functions raise; the message is one of the codes below.
LEDGER_SQLSTATE = "LG000"


class LedgerError(PaysagaError):
    code = "ledger_error"


class InvalidEntry(LedgerError, ValidationError):
    code = "invalid_request"


class LedgerInvalidAmount(InvalidEntry, InvalidAmount):
    code = "invalid_amount"


class UnbalancedEntry(InvalidEntry):
    code = "unbalanced_entry"


class CurrencyMismatch(InvalidEntry):
    code = "currency_mismatch"


class CrossShardEntry(InvalidEntry):
    """All legs of one entry must live on one shard; use the cross-shard primitives."""

    code = "cross_shard_entry"


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"


class UnknownAccount(LedgerError, NotFound):
    code = "unknown_account"


class UnknownEntry(LedgerError, NotFound):
    code = "unknown_entry"


class IdempotencyConflict(LedgerError, Conflict):
    code = "idempotency_conflict"


class AccountConflict(LedgerError, Conflict):
    """create_account with an existing id but a different definition."""

    code = "account_conflict"


class NotPending(LedgerError, Conflict):
    code = "not_pending"


class AlreadyPosted(LedgerError, Conflict):
    code = "already_posted"


class AlreadyVoided(LedgerError, Conflict):
    code = "already_voided"


class PendingExpired(LedgerError, Conflict):
    code = "pending_expired"


class NotReversible(LedgerError, Conflict):
    code = "not_reversible"


class ReversalExceedsOriginal(LedgerError, Conflict):
    code = "reversal_exceeds_original"


class AppendOnly(LedgerError):
    code = "append_only"


class ShardUnavailable(LedgerError):
    code = "shard_unavailable"
    retryable = True


_BY_CODE: dict[str, type[LedgerError]] = {
    cls.code: cls
    for cls in (
        InvalidEntry,
        LedgerInvalidAmount,
        UnbalancedEntry,
        CurrencyMismatch,
        CrossShardEntry,
        InsufficientFunds,
        UnknownAccount,
        UnknownEntry,
        IdempotencyConflict,
        AccountConflict,
        NotPending,
        AlreadyPosted,
        AlreadyVoided,
        PendingExpired,
        NotReversible,
        ReversalExceedsOriginal,
        AppendOnly,
    )
}


def error_for_code(code: str, detail: str) -> LedgerError:
    return _BY_CODE.get(code, LedgerError)(detail or code)


def from_sql_error(code: str | None, detail: str | None) -> LedgerError:
    return error_for_code(code or "ledger_error", detail or "")
