"""Stripe's failures in our error hierarchy (stripe-python's exception classes).

Transport failures (connection errors, 5xx) are decided by the one classifier
(gateways.transport) with Stripe's semantics; declines by the shared decline table
(gateways.declines).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import stripe
import structlog

from paysaga.gateways.declines import decline
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
from paysaga.gateways.transport import (
    STRIPE,
    Wire,
    not_sent,
    retry_after_seconds,
    transport_error,
)

log = structlog.get_logger()
NAME = STRIPE.gateway


def _retry_after(headers: Any) -> float | None:
    return retry_after_seconds(headers.get("Retry-After") if headers is not None else None)


def _connection_error(exc: stripe.APIConnectionError, mutating: bool) -> GatewayError:
    """No HTTP answer: never sent (refused, connect timeout), or sent and lost."""
    reason = not_sent(exc, STRIPE)
    if reason is not None:
        return transport_error(
            STRIPE, Wire.NOT_SENT, mutating=mutating, message=f"stripe unreachable ({reason})"
        )
    cause = type(exc.__cause__).__name__
    return transport_error(
        STRIPE,
        Wire.NO_ANSWER,
        mutating=mutating,
        message=f"stripe request failed ({cause})",
        unknown_message=f"stripe request outcome unknown ({cause})",
    )


def map_stripe_error(exc: stripe.StripeError, *, mutating: bool) -> GatewayError:
    """One place that turns the SDK's exceptions into our typed hierarchy."""
    kw: dict[str, Any] = {
        "gateway": NAME,
        "http_status": exc.http_status,
        "request_id": exc.request_id,
    }
    err = exc.error
    message = exc.user_message or str(exc) or type(exc).__name__
    if isinstance(exc, stripe.CardError):
        code, soft = decline((err.decline_code if err else None) or exc.code or "card_declined")
        return Declined(message, decline_code=code, soft=soft, **kw)
    if isinstance(exc, stripe.IdempotencyError):
        return IdempotencyMismatch(message, **kw)
    if isinstance(exc, stripe.RateLimitError):
        return RateLimited(message, retry_after=_retry_after(exc.headers), **kw)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return AuthenticationFailed(message, **kw)
    if isinstance(exc, stripe.InvalidRequestError):
        if exc.http_status == 404 and exc.code != RESOURCE_MISSING:
            # "Unrecognized request URL": no such endpoint (a configuration or routing
            # problem), retried and alerted, never a verdict on a payment.
            return Unavailable(message, **kw)
        error = InvalidRequest(message, field=exc.param, **kw)
        if exc.code == RESOURCE_MISSING:
            error.code = RESOURCE_MISSING
        return error
    if isinstance(exc, stripe.APIConnectionError):
        return _connection_error(exc, mutating)
    # APIError (5xx, or an answer the SDK could not read) and any other status.
    return transport_error(
        STRIPE,
        Wire.ANSWERED,
        mutating=mutating,
        message=message,
        status=exc.http_status,
        retry_after=_retry_after(exc.headers),
        request_id=exc.request_id,
    )


@contextlib.contextmanager
def translated(*, mutating: bool) -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as exc:
        mapped = map_stripe_error(exc, mutating=mutating)
        log.info(
            "stripe_error",
            error=type(mapped).__name__,
            http_status=mapped.http_status,
            request_id=mapped.request_id,
        )
        raise mapped from exc
