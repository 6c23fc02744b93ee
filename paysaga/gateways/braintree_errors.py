"""Braintree's failures in our error hierarchy: the SDK's exceptions and unsuccessful results.

Transport failures (timeouts, dropped connections, 5xx) are decided by the one
classifier (gateways.transport) with Braintree's semantics; declines by the shared
decline tables (gateways.declines).
"""

from __future__ import annotations

from typing import Any

import requests
from braintree.exceptions.authentication_error import AuthenticationError
from braintree.exceptions.authorization_error import AuthorizationError
from braintree.exceptions.gateway_timeout_error import GatewayTimeoutError
from braintree.exceptions.http.connection_error import ConnectionError as BtConnectionError
from braintree.exceptions.http.invalid_response_error import InvalidResponseError
from braintree.exceptions.http.timeout_error import ConnectTimeoutError, ReadTimeoutError
from braintree.exceptions.http.timeout_error import TimeoutError as BtTimeoutError
from braintree.exceptions.not_found_error import NotFoundError
from braintree.exceptions.request_timeout_error import RequestTimeoutError
from braintree.exceptions.server_error import ServerError
from braintree.exceptions.service_unavailable_error import ServiceUnavailableError
from braintree.exceptions.too_many_requests_error import TooManyRequestsError
from braintree.exceptions.unexpected_error import UnexpectedError
from braintree.exceptions.upgrade_required_error import UpgradeRequiredError

from paysaga.gateways.declines import BRAINTREE_PROCESSOR_UNAVAILABLE, Decline, braintree_decline
from paysaga.gateways.errors import (
    RESOURCE_MISSING,
    AuthenticationFailed,
    Declined,
    GatewayError,
    IdempotencyMismatch,
    InvalidRequest,
    RateLimited,
    Unavailable,
)
from paysaga.gateways.transport import BRAINTREE, Wire, not_sent, transport_error

GATEWAY = BRAINTREE.gateway
IDEMPOTENCY_MISMATCH_CODE = "93199"  # the sandbox's code for a reused key
SETTLEMENT_FAILURES = ("settlement_declined", "settlement_failed")

# The SDK's exceptions for error statuses, and the status (the SDK keeps none).
_ANSWERS: tuple[tuple[type[Exception], int], ...] = (
    (RequestTimeoutError, 408),
    (ServerError, 500),
    (ServiceUnavailableError, 503),
)
_UNEXPECTED_5XX = "Unexpected HTTP_RESPONSE 5"


def _transport(
    wire: Wire,
    message: str,
    mutating: bool,
    *,
    status: int | None = None,
    retry_after: float | None = None,
) -> GatewayError:
    return transport_error(
        BRAINTREE,
        wire,
        mutating=mutating,
        message=message,
        unknown_message=f"{message}: the request may have taken effect",
        status=status,
        retry_after=retry_after,
    )


def _wire_error(exc: Exception, mutating: bool) -> GatewayError | None:
    """A request that got no HTTP answer: never sent, or sent and lost."""
    if isinstance(exc, ConnectTimeoutError):  # before BtTimeoutError, its base class
        return _transport(Wire.NOT_SENT, "connect timeout", mutating)
    if isinstance(exc, ReadTimeoutError | BtTimeoutError | requests.Timeout):
        return _transport(Wire.NO_ANSWER, "Braintree read timeout", mutating)
    if isinstance(exc, BtConnectionError | requests.ConnectionError):
        reason = not_sent(exc, BRAINTREE)
        if reason is not None:
            return _transport(Wire.NOT_SENT, reason, mutating)
        return _transport(Wire.NO_ANSWER, "Braintree connection dropped", mutating)
    if isinstance(exc, InvalidResponseError):
        return _transport(Wire.NO_ANSWER, "Braintree invalid response", mutating)
    return None


def sdk_error(exc: Exception, *, mutating: bool, retry_after: float | None) -> GatewayError | None:
    """Our error for an exception of the SDK's call; None if it is not one of the SDK's."""
    if isinstance(exc, AuthenticationError | AuthorizationError):
        status = 401 if isinstance(exc, AuthenticationError) else 403
        return AuthenticationFailed(
            "Braintree refused our credentials", gateway=GATEWAY, http_status=status
        )
    if isinstance(exc, NotFoundError):
        # The SDK raises it for any 404: an id it does not know on the paths that carry
        # one (searches, which carry none, turn it into Unavailable: braintree_gateway).
        error = InvalidRequest(str(exc) or "resource not found", gateway=GATEWAY, http_status=404)
        error.code = RESOURCE_MISSING
        return error
    if isinstance(exc, TooManyRequestsError):
        return RateLimited(
            "Braintree rate limit", gateway=GATEWAY, http_status=429, retry_after=retry_after
        )
    for cls, status in _ANSWERS:
        if isinstance(exc, cls):
            message = f"Braintree {type(exc).__name__}"
            return _transport(
                Wire.ANSWERED, message, mutating, status=status, retry_after=retry_after
            )
    if isinstance(exc, GatewayTimeoutError):
        return _transport(Wire.ANSWERED, "Braintree gateway timeout (504)", mutating, status=504)
    wire = _wire_error(exc, mutating)
    if wire is not None:
        return wire
    if isinstance(exc, UpgradeRequiredError):
        return InvalidRequest("SDK too old for the gateway", gateway=GATEWAY)
    if isinstance(exc, UnexpectedError):  # the SDK's catch-all, after its subclasses above
        text = str(exc)
        if text.startswith(_UNEXPECTED_5XX):
            code = text.rsplit(" ", 1)[-1]
            answered = int(code) if code.isdigit() else None
            return _transport(Wire.ANSWERED, text, mutating, status=answered)
        # The SDK wraps any other failure of the request here (a transport error
        # requests raised past its own classes, an answer it could not parse): the
        # request may have been sent, so a write's outcome is unknown.
        reason = not_sent(exc, BRAINTREE)
        if reason is not None:
            return _transport(Wire.NOT_SENT, reason, mutating)
        return _transport(Wire.NO_ANSWER, f"Braintree unexpected error ({text})", mutating)
    return None


def sale_decline(txn: Any) -> Decline:
    """The decline of a sale the gateway refused or failed."""
    reason = txn.gateway_rejection_reason if txn.status == "gateway_rejected" else None
    return braintree_decline(str(txn.status), _processor_code(txn), str(reason) if reason else None)


def failed_sale_code(txn: Any) -> str:
    """Our decline code for a sale in a failed state (including failed settlement)."""
    if (
        txn.status in SETTLEMENT_FAILURES
        and _processor_code(txn) != BRAINTREE_PROCESSOR_UNAVAILABLE
    ):
        return str(txn.status)
    return sale_decline(txn).code


def result_error(result: Any) -> GatewayError:
    """Our error for an unsuccessful result (a declined sale or validation errors)."""
    txn = result.transaction
    if txn is not None:
        unavailable = _processor_code(txn) == BRAINTREE_PROCESSOR_UNAVAILABLE
        if unavailable and txn.status != "gateway_rejected":
            return Unavailable(result.message, gateway=GATEWAY)
        decline = sale_decline(txn)
        return Declined(
            result.message, gateway=GATEWAY, decline_code=decline.code, soft=decline.soft
        )
    errors = result.errors.deep_errors
    if any(e.code == IDEMPOTENCY_MISMATCH_CODE for e in errors):
        return IdempotencyMismatch(result.message, gateway=GATEWAY, http_status=422)
    field = errors[0].attribute if errors else None
    return InvalidRequest(result.message, gateway=GATEWAY, http_status=422, field=field)


def error_codes(result: Any) -> set[str]:
    return {str(e.code) for e in result.errors.deep_errors}


def _processor_code(txn: Any) -> str:
    return str(getattr(txn, "processor_response_code", "") or "")
