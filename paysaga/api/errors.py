"""Every error leaves the API as `{"error": {"code", "message", "field"}}` with a stable code.

That includes FastAPI's own validation errors (422), unknown routes (404), wrong
methods (405), malformed JSON and unexpected exceptions (500, logged; only real bugs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from paysaga.client.errors import TooManyRequests, http_status_for
from paysaga.domain.errors import PaysagaError
from paysaga.domain.pan import CardNumberNotAccepted, mask_optional, mask_pans

log = structlog.get_logger(__name__)

# Codes our own Pydantic validators raise (PydanticCustomError type == our code).
OUR_VALIDATION_CODES = frozenset(
    {
        "invalid_amount",
        "unknown_currency",
        "invalid_request",
        "invalid_id",
        CardNumberNotAccepted.code,
    }
)

HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    # Messages may quote the input (an unknown id, a status); never a card number.
    return {"error": {"code": code, "message": mask_pans(message), "field": mask_optional(field)}}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


def paysaga_error_response(exc: PaysagaError) -> JSONResponse:
    headers = None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(max(1, int(exc.retry_after_s + 0.999)))}
    return error_response(http_status_for(exc), exc.code, exc.message, exc.field, headers)


def _field_name(loc: Sequence[int | str]) -> str | None:
    # ("body", "amount_minor") -> "amount_minor"; ("header", "idempotency-key") -> "Idempotency-Key"
    if not loc:
        return None
    where, rest = loc[0], [str(part) for part in loc[1:]]
    if where == "header" and rest:
        return "-".join(part.capitalize() for part in rest[0].replace("_", "-").split("-"))
    if where in ("body", "query", "path") and rest:
        return ".".join(rest)
    return str(where) if where != "body" else None


def validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"type": "invalid_request", "loc": (), "msg": "invalid"}
    kind = str(first.get("type", ""))
    field = _field_name(tuple(first.get("loc", ())))
    context = first.get("ctx")
    if kind == CardNumberNotAccepted.code and isinstance(context, dict):
        # Raised for the whole body (so unknown fields count too): the field is in ctx.
        field = str(context.get("field") or "body")
    if kind == "json_invalid":
        return error_response(400, "invalid_json", "request body is not valid JSON")
    if kind in OUR_VALIDATION_CODES:
        code = kind
    elif kind == "missing":
        code = "missing_field"
    else:
        code = "invalid_request"
    message = str(first.get("msg", "invalid request"))
    message = message.removeprefix("Value error, ")
    if field and field not in message:
        message = f"{field}: {message}"
    return error_response(422, code, message, field)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PaysagaError)
    async def _paysaga(request: Request, exc: PaysagaError) -> JSONResponse:
        return paysaga_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, message, None, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "api.unexpected_error",
            path=request.url.path,
            method=request.method,
            error_type=type(exc).__name__,
            exc_info=exc,
        )
        return error_response(500, "internal_error", "internal error; it has been logged")
