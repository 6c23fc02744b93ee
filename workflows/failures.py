"""Reading classified activity failures: activities raise ApplicationError(type=<class>)."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError


@dataclass(frozen=True)
class Failure:
    type: str
    message: str
    decline_code: str | None = None
    soft: bool = False
    failover: bool = False

    @property
    def outcome_unknown(self) -> bool:
        return self.type in ("OutcomeUnknown", "ActivityTimeout")

    def reason(self) -> str:
        code = f" ({self.decline_code})" if self.decline_code else ""
        return f"{self.type}{code}: {self.message}"


def classify(error: ActivityError) -> Failure:
    """Details convention of activities: [decline_code, soft, failover]."""
    cause = error.cause
    if isinstance(cause, ApplicationError):
        details = list(cause.details)
        decline_code = details[0] if details and isinstance(details[0], str) else None
        soft = bool(details[1]) if len(details) > 1 else False
        failover = bool(details[2]) if len(details) > 2 else False
        return Failure(
            cause.type or "ApplicationError", cause.message, decline_code, soft, failover
        )
    if isinstance(cause, TimeoutError):
        # The call may have reached the gateway: same treatment as OutcomeUnknown.
        return Failure("ActivityTimeout", str(cause))
    return Failure(type(cause).__name__ if cause else "ActivityError", str(cause or error))


class PaymentFailure(Exception):
    """Ends the charge: compensations run and the payment lands in `status`."""

    def __init__(self, reason: str, status: str = "failed") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
