"""Translate gateway and ledger errors into ApplicationError for the workflows.

type = the error's class name (workflows and retry policies branch on it);
details = [decline_code, soft, failover]; Retry-After becomes next_retry_delay.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

from temporalio.exceptions import ApplicationError

from ledger.errors import LedgerError, ShardUnavailable
from paysaga.domain.errors import PaysagaError
from paysaga.gateways.errors import Declined, GatewayError, RetryableGatewayError
from paysaga.gateways.router import should_fail_over


def gateway_application_error(exc: GatewayError) -> ApplicationError:
    decline_code = exc.decline_code if isinstance(exc, Declined) else None
    soft = exc.soft if isinstance(exc, Declined) else False
    delay = None
    if isinstance(exc, RetryableGatewayError) and exc.retry_after:
        delay = timedelta(seconds=exc.retry_after)
    return ApplicationError(
        exc.message,
        decline_code,
        soft,
        should_fail_over(exc),
        type=type(exc).__name__,
        non_retryable=not exc.retryable,
        next_retry_delay=delay,
    )


def ledger_application_error(exc: PaysagaError) -> ApplicationError:
    retryable = isinstance(exc, ShardUnavailable) or exc.retryable
    return ApplicationError(
        exc.message, exc.code, type=type(exc).__name__, non_retryable=not retryable
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
        raise ApplicationError(exc.message, type="ValidationError", non_retryable=True) from exc
