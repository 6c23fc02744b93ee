"""Stripe's error responses: an HTTP status plus Stripe's `error` object."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

Obj = dict[str, Any]


class StripeApiError(Exception):
    """An error response: HTTP status plus Stripe's `error` object."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        decline_code: str | None = None,
        param: str | None = None,
        extra: Obj | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error: Obj = {"type": type_, "message": message}
        for key, value in (("code", code), ("decline_code", decline_code), ("param", param)):
            if value is not None:
                self.error[key] = value
        self.error.update(extra or {})

    def body(self) -> Obj:
        return {"error": self.error}


def invalid(message: str, *, code: str | None = None, param: str | None = None) -> StripeApiError:
    return StripeApiError(400, "invalid_request_error", message, code=code, param=param)


def missing(kind: str, ident: str, param: str = "id") -> StripeApiError:
    return StripeApiError(
        404,
        "invalid_request_error",
        f"No such {kind}: '{ident}'",
        code="resource_missing",
        param=param,
    )


def error_response(exc: StripeApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
