"""Reading classified activity failures: the one decoder of activities.errors' format.

Activities raise ApplicationError(type=<ErrorType>, details=FailureDetails.as_details());
in a workflow the details arrive as plain JSON (a dict for the dataclass), and histories
recorded before FailureDetails carry only the positional [decline_code, soft, failover]
(ledger errors: [code]). `classify` reads both, and masks card numbers in the message
(activities mask them already; histories recorded before they did may hold one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

from paysaga.domain.failures import ErrorType, FailureDetails
from paysaga.domain.pan import mask_pans


@dataclass(frozen=True)
class Failure:
    type: str
    message: str
    decline_code: str | None = None
    soft: bool = False
    failover: bool = False
    code: str | None = None  # a ledger error's code
    not_charged: bool = False  # FailureDetails.not_charged
    search_lag: timedelta | None = None  # FailureDetails.search_lag_s

    @property
    def outcome_unknown(self) -> bool:
        return self.type in (ErrorType.OUTCOME_UNKNOWN, ErrorType.ACTIVITY_TIMEOUT)

    def reason(self) -> str:
        code = self.decline_code or self.code
        suffix = f" ({code})" if code else ""
        return f"{self.type}{suffix}: {self.message}"


def failure_details(details: Sequence[Any]) -> FailureDetails:
    """FailureDetails from an ApplicationError's details, in either format.

    The record is the last detail (after the positional prefix older workers read; see
    FailureDetails.as_details); histories recorded before it have only the prefix.
    """
    last = details[-1] if details else None
    if isinstance(last, FailureDetails):
        return last  # raised in this process, never serialised
    if isinstance(last, Mapping):
        return FailureDetails(
            decline_code=_text(last.get("decline_code")),
            soft=bool(last.get("soft", False)),
            failover=bool(last.get("failover", False)),
            code=_text(last.get("code")),
            not_charged=bool(last.get("not_charged", False)),
            search_lag_s=_seconds(last.get("search_lag_s")),
        )
    # Legacy positional form, decoded exactly as before (a ledger code lands in
    # decline_code, which reason() prints the same way).
    return FailureDetails(
        decline_code=_text(details[0]) if details else None,
        soft=bool(details[1]) if len(details) > 1 else False,
        failover=bool(details[2]) if len(details) > 2 else False,
    )


def classify(error: ActivityError) -> Failure:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        d = failure_details(list(cause.details))
        return Failure(
            cause.type or "ApplicationError",
            mask_pans(cause.message),
            d.decline_code,
            d.soft,
            d.failover,
            d.code,
            d.not_charged,
            None if d.search_lag_s is None else timedelta(seconds=d.search_lag_s),
        )
    if isinstance(cause, TimeoutError):
        # The call may have reached the gateway: same treatment as OutcomeUnknown.
        return Failure(ErrorType.ACTIVITY_TIMEOUT.value, mask_pans(str(cause)))
    return Failure(
        type(cause).__name__ if cause else "ActivityError", mask_pans(str(cause or error))
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _seconds(value: object) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    return float(value) if ok else None  # type: ignore[arg-type]


class PaymentFailure(Exception):
    """Ends the charge: compensations run and the payment lands in `status`."""

    def __init__(self, reason: str, status: str = "failed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
