"""One typed error hierarchy with stable machine-readable codes.

The same codes appear in activity ApplicationError types, HTTP error bodies and
CLI messages, so callers can branch on `code` everywhere.
"""

from __future__ import annotations


class PaysagaError(Exception):
    """Base of every error we raise on purpose."""

    code: str = "paysaga_error"
    retryable: bool = False

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class ValidationError(PaysagaError):
    code = "invalid_request"


class InvalidAmount(ValidationError):
    code = "invalid_amount"


class UnknownCurrency(ValidationError):
    code = "unknown_currency"


class ConfigurationError(PaysagaError):
    """A setting is wrong; `field` names the setting (e.g. PAYSAGA_DATABASE_URLS)."""

    code = "configuration_error"


class NotFound(PaysagaError):
    code = "not_found"


class Conflict(PaysagaError):
    code = "conflict"
