"""Temporal's errors as the client's: what a start, query, update or RPC raised, as a
typed error with a stable code (client.errors)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.client import WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from paysaga.client.errors import (
    EncryptionKeyMissing,
    InvalidState,
    PaymentFailed,
    PaymentNotFound,
    ServiceUnavailable,
)
from paysaga.domain.errors import InvalidAmount, PaysagaError, UnknownCurrency, ValidationError
from paysaga.domain.pan import CardNumberNotAccepted
from paysaga.security.errors import UnknownEncryptionKey

T = TypeVar("T")

# security.errors.UnknownEncryptionKey's message, as a worker's failure carries it.
_MISSING_KEY = re.compile(r"encrypted with key '([^']{1,200})', which is not configured")


def unavailable(exc: RPCError) -> PaysagaError:
    return ServiceUnavailable(f"Temporal did not answer: {exc.status.name}")


def _application_error(exc: BaseException) -> ApplicationError | None:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ApplicationError):
            return cause
        cause = cause.__cause__
    return None


def rejection(exc: BaseException) -> PaysagaError:
    """An update/query rejected by the workflow -> our typed error."""
    app = _application_error(exc)
    message = app.message if app else str(exc)
    field = None
    if app and app.details and isinstance(app.details[0], dict):
        raw_field = app.details[0].get("field")
        field = raw_field if isinstance(raw_field, str) else None
    kind = app.type if app else None
    if kind in ("conflict", "InvalidState", "Conflict") or "in status" in message:
        return InvalidState(message, field=field or "status")
    if kind == CardNumberNotAccepted.code:
        return CardNumberNotAccepted(field or "request")
    if kind == "capture_failed":
        return PaymentFailed(message, field=field)
    if kind in (InvalidAmount.code, UnknownCurrency.code):
        return (InvalidAmount if kind == InvalidAmount.code else UnknownCurrency)(
            message, field=field or ("amount_minor" if kind == InvalidAmount.code else "currency")
        )
    return ValidationError(message, field=field)


async def call(action: Callable[[], Awaitable[T]], resource_id: str) -> T:
    """Run a query/update, translating Temporal's errors into ours."""
    try:
        return await action()
    except WorkflowUpdateFailedError as exc:
        raise rejection(exc) from exc
    except WorkflowQueryFailedError as exc:
        # The worker could not decode the history: its failure names the key id.
        missing = _MISSING_KEY.search(str(exc))
        if missing:
            raise EncryptionKeyMissing(missing.group(1)) from exc
        raise ServiceUnavailable(f"status query failed: {exc}") from exc
    except UnknownEncryptionKey as exc:  # this process cannot decode the answer
        raise EncryptionKeyMissing(exc.key_id) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            if "completed" in exc.message.lower():
                raise InvalidState(
                    f"{resource_id} has finished; it cannot change any more", field="status"
                ) from exc
            raise PaymentNotFound(f"no payment {resource_id!r}", field="payment_id") from exc
        raise unavailable(exc) from exc
