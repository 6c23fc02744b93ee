"""Translate gateway and ledger errors into ApplicationError for the workflows.

The encoder of the one failure format: type = the error's class name (an ErrorType
value; workflows and retry policies branch on it), details = FailureDetails.as_details(),
Retry-After becomes next_retry_delay. workflows.failures.classify decodes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from ledger.errors import LedgerError, ShardUnavailable
from paysaga.domain.errors import PaysagaError
from paysaga.domain.failures import ErrorType, FailureDetails
from paysaga.gateways.errors import Declined, GatewayError, RetryableGatewayError
from paysaga.gateways.router import should_fail_over


def gateway_application_error(exc: GatewayError) -> ApplicationError:
    details = FailureDetails(
        decline_code=exc.decline_code if isinstance(exc, Declined) else None,
        soft=exc.soft if isinstance(exc, Declined) else False,
        failover=should_fail_over(exc),
    )
    delay = None
    if isinstance(exc, RetryableGatewayError) and exc.retry_after:
        delay = timedelta(seconds=exc.retry_after)
    return ApplicationError(
        exc.message,
        *details.as_details(),
        type=type(exc).__name__,
        non_retryable=not exc.retryable,
        next_retry_delay=delay,
    )


def ledger_application_error(exc: PaysagaError) -> ApplicationError:
    retryable = isinstance(exc, ShardUnavailable) or exc.retryable
    return ApplicationError(
        exc.message,
        *FailureDetails(code=exc.code).as_details(),
        type=type(exc).__name__,
        non_retryable=not retryable,
    )


def invalid_request(message: str) -> ApplicationError:
    """A request the activity refuses before calling anyone (e.g. an unknown gateway)."""
    return ApplicationError(
        message, *FailureDetails().as_details(), type=ErrorType.INVALID_REQUEST, non_retryable=True
    )


@contextlib.contextmanager
def translated() -> Iterator[None]:
    try:
        yield
    except GatewayError as exc:
        raise gateway_application_error(exc) from exc
    except LedgerError as exc:
        raise ledger_application_error(exc) from exc
    except PaysagaError as exc:  # domain validation
        raise ApplicationError(
            exc.message,
            *FailureDetails().as_details(),
            type=ErrorType.VALIDATION_ERROR,
            non_retryable=True,
        ) from exc
