"""One error hierarchy for every gateway, modelled on stripe-python's _error.py.

Activities translate these into ApplicationError with `type=<class name>` (the
values of paysaga.domain.failures.ErrorType), the `retryable` flag and a
FailureDetails; workflows branch on those names only. Decline codes live in
gateways.declines.
"""

from __future__ import annotations

from paysaga.domain.errors import PaysagaError
from paysaga.domain.pan import mask_pans


class GatewayError(PaysagaError):
    code = "gateway_error"
    # Set by an adapter when the error came before any write of the operation was sent
    # (a read that precedes it failed): whatever the status, nothing moved.
    nothing_sent: bool = False

    def __init__(
        self,
        message: str,
        *,
        gateway: str,
        http_status: int | None = None,
        request_id: str | None = None,
        field: str | None = None,
    ) -> None:
        # A gateway may echo what it was sent (or its own card data) in its message; the
        # message travels on into failures, search attributes, responses and reports.
        super().__init__(mask_pans(message), field=field)
        self.gateway = gateway
        self.http_status = http_status
        self.request_id = request_id


class Declined(GatewayError):
    """The issuer or gateway said no. `soft` declines may succeed later (dunning)."""

    code = "card_declined"

    def __init__(
        self, message: str, *, gateway: str, decline_code: str, soft: bool, **kw: object
    ) -> None:
        super().__init__(message, gateway=gateway, **kw)  # type: ignore[arg-type]
        self.decline_code = decline_code
        self.soft = soft


# The code of an InvalidRequest for an id the gateway does not know (a 404 for the
# resource; a 404 for the endpoint is Unavailable, retried and never a verdict).
RESOURCE_MISSING = "resource_missing"


class InvalidRequest(GatewayError):
    code = "gateway_invalid_request"


class AuthenticationFailed(GatewayError):
    """Our credentials were refused: a configuration problem, never retried."""

    code = "gateway_authentication_failed"


class IdempotencyMismatch(InvalidRequest):
    """Same idempotency key reused with a different body."""

    code = "gateway_idempotency_mismatch"


class RetryableGatewayError(GatewayError):
    retryable = True

    def __init__(
        self, message: str, *, gateway: str, retry_after: float | None = None, **kw: object
    ) -> None:
        super().__init__(message, gateway=gateway, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class RateLimited(RetryableGatewayError):
    code = "gateway_rate_limited"


class Unavailable(RetryableGatewayError):
    """5xx or connection refused before the request reached the gateway's logic."""

    code = "gateway_unavailable"


class OutcomeUnknown(GatewayError):
    """Timed out after the request was sent: it may or may not have happened.

    Never retried blindly: the caller asks the gateway (lookup) first.
    """

    code = "gateway_outcome_unknown"
    retryable = False
