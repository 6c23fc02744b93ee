"""Translate gateway and ledger errors into ApplicationError for the workflows.

The encoder of the one failure format: type = the error's class name (an ErrorType
value; workflows and retry policies branch on it), details = FailureDetails.as_details(),
Retry-After becomes next_retry_delay. workflows.failures.classify decodes it.
Every message is masked for card numbers (domain.pan) before it enters a history.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from ledger.errors import LedgerError, ShardUnavailable
from paysaga.domain.errors import PaysagaError
from paysaga.domain.failures import ErrorType, FailureDetails
from paysaga.domain.pan import mask_pans
from paysaga.gateways.errors import (
    Declined,
    GatewayError,
    RateLimited,
    RetryableGatewayError,
    Unavailable,
)
from paysaga.gateways.router import should_fail_over


def gateway_application_error(
    exc: GatewayError,
    *,
    search_lag_s: float | None = None,
    final: bool = False,
    final_unsent: bool = False,
) -> ApplicationError:
    """`search_lag_s`: the gateway's search lag bound, for the workflow's verdict; `final`:
    never retried by Temporal (the workflow decides every resend, e.g. for a gateway
    without idempotency keys); `final_unsent`: final when it proves nothing was sent."""
    details = FailureDetails(
        decline_code=exc.decline_code if isinstance(exc, Declined) else None,
        soft=exc.soft if isinstance(exc, Declined) else False,
        failover=should_fail_over(exc),
        not_charged=proves_not_charged(exc),
        search_lag_s=search_lag_s,
    )
    delay = None
    if isinstance(exc, RetryableGatewayError) and exc.retry_after:
        delay = timedelta(seconds=exc.retry_after)
    return ApplicationError(
        mask_pans(exc.message),
        *details.as_details(),
        type=type(exc).__name__,
        non_retryable=final or not exc.retryable or (final_unsent and details.not_charged),
        next_retry_delay=delay,
    )


def proves_not_charged(exc: GatewayError) -> bool:
    """A 429, or Unavailable without an HTTP status (no connection was made, or the
    gateway answered that the processor was unavailable): the request charged nothing.
    A 5xx does not prove it (the work may have been done before the error), unless the
    adapter says it came before anything was sent (a failed read ahead of the write)."""
    if isinstance(exc, RateLimited) or exc.nothing_sent:
        return True
    return isinstance(exc, Unavailable) and exc.http_status is None


def ledger_application_error(exc: PaysagaError) -> ApplicationError:
    retryable = isinstance(exc, ShardUnavailable) or exc.retryable
    return ApplicationError(
        mask_pans(exc.message),
        *FailureDetails(code=exc.code).as_details(),
        type=type(exc).__name__,
        non_retryable=not retryable,
    )


def invalid_request(message: str) -> ApplicationError:
    """A request the activity refuses before calling anyone (e.g. an unknown gateway)."""
    return ApplicationError(
        mask_pans(message),
        *FailureDetails().as_details(),
        type=ErrorType.INVALID_REQUEST,
        non_retryable=True,
    )


@contextlib.contextmanager
def translated(
    *, search_lag_s: float | None = None, final: bool = False, final_unsent: bool = False
) -> Iterator[None]:
    """Our errors as ApplicationErrors (gateway errors with `search_lag_s`, `final` and
    `final_unsent`, see gateway_application_error)."""
    try:
        yield
    except GatewayError as exc:
        raise gateway_application_error(
            exc, search_lag_s=search_lag_s, final=final, final_unsent=final_unsent
        ) from exc
    except LedgerError as exc:
        raise ledger_application_error(exc) from exc
    except PaysagaError as exc:  # domain validation
        raise ApplicationError(
            mask_pans(exc.message),
            *FailureDetails().as_details(),
            type=ErrorType.VALIDATION_ERROR,
            non_retryable=True,
        ) from exc
