"""Typed errors of the client and the HTTP API: one class per stable code.

Every class extends the domain hierarchy, so `code`, `message` and `field` are the
same whether the error came from `PaysagaClient` in-process or from the HTTP API
as `{"error": {"code", "message", "field"}}`. `http_status_for` is what the API
answers with.
"""

from __future__ import annotations

from paysaga.domain.errors import Conflict, NotFound, PaysagaError, ValidationError


class Unauthorized(PaysagaError):
    code = "unauthorized"


class Forbidden(PaysagaError):
    """Authenticated, but the key's scope does not allow this (403)."""

    code = "forbidden"


class OperatorKeyRequired(Forbidden):
    """A platform operation (reconciliation) called with a merchant key."""

    code = "operator_key_required"


class MerchantKeyRequired(Forbidden):
    """A merchant's resource called with an operator key, which acts for no merchant."""

    code = "merchant_key_required"


class TooManyRequests(PaysagaError):
    """Too many attempts from one caller (e.g. failed authentications); retry after a while.

    Not paysaga.gateways.errors.RateLimited, which is a gateway throttling us.
    """

    code = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s


class PaymentNotFound(NotFound):
    code = "payment_not_found"


class AccountNotFound(NotFound):
    code = "account_not_found"


class BankAccountNotFound(NotFound):
    """No such bank account, or another merchant's (never said which)."""

    code = "bank_account_not_found"


class BankAccountNotCustomers(Forbidden):
    """The merchant's bank account, but another customer's: it cannot pay for this one."""

    code = "bank_account_customer_mismatch"


class BankAccountNotVerified(Conflict):
    """The bank gave no owner name at onboarding; the merchant must verify it first."""

    code = "bank_account_not_verified"


class BankAccountDisabled(Conflict):
    """The merchant disabled the bank account; it is not debited again."""

    code = "bank_account_disabled"


class IdempotencyConflict(Conflict):
    """Same Idempotency-Key, different request body."""

    code = "idempotency_conflict"


class InvalidState(Conflict):
    """The payment cannot do that now (e.g. capture after cancel, refund above captured)."""

    code = "invalid_state"


class PayloadTooLarge(ValidationError):
    code = "payload_too_large"


class InvalidSignature(PaysagaError):
    """A webhook whose signature does not verify; nothing was recorded."""

    code = "invalid_signature"


class ServiceUnavailable(PaysagaError):
    """Temporal or a database did not answer; safe to retry.

    Not paysaga.gateways.errors.Unavailable, which is a gateway not answering.
    """

    code = "unavailable"
    retryable = True


class EncryptionKeyMissing(ServiceUnavailable):
    """A workflow's payloads are encrypted with a key this deployment no longer has."""

    code = "encryption_key_missing"

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"the workflow's payloads are encrypted with key {key_id!r}, which is not in "
            "PAYSAGA_ENCRYPTION_KEYS of the workers or the API: add it back after the "
            "current key (see README, encryption-key rotation)",
            field="PAYSAGA_ENCRYPTION_KEYS",
        )
        self.key_id = key_id


class PaymentFailed(PaysagaError):
    """The payment failed at the gateway (declined, invalid card...).

    What the client and the API report (402). Not paysaga.gateways.errors.GatewayError,
    the base of what the gateway clients raise inside activities.
    """

    code = "gateway_error"


# HTTP status per error class; the most specific class in the MRO wins.
HTTP_STATUS: dict[type[PaysagaError], int] = {
    ValidationError: 422,
    PayloadTooLarge: 413,
    Unauthorized: 401,
    InvalidSignature: 401,
    Forbidden: 403,
    TooManyRequests: 429,
    NotFound: 404,
    Conflict: 409,
    ServiceUnavailable: 503,
    PaymentFailed: 402,
    PaysagaError: 400,
}


def http_status_for(error: PaysagaError) -> int:
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]  # type: ignore[index]
    return 500
