"""The Braintree gateway's errors: a 422 `<api-error-response>`, or a 404."""

from __future__ import annotations

from typing import Any

from paysaga.sandbox.braintree.xml_codec import Array


class ApiError(Exception):
    """A 422 `<api-error-response>`: validation errors, or a declined transaction."""

    def __init__(
        self,
        message: str,
        *,
        scope: tuple[str, ...] = (),
        attribute: str = "base",
        code: str = "",
        transaction: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.scope = scope
        self.attribute = attribute
        self.code = code
        self.transaction = transaction
        self.params = params or {}

    def body(self) -> dict[str, Any]:
        errors: dict[str, Any] = {"errors": Array("error", [])}
        if self.code:
            node = errors
            for key in self.scope:
                node = node.setdefault(key, {"errors": Array("error", [])})
            entry = {"code": self.code, "attribute": self.attribute, "message": self.message}
            node["errors"] = Array("error", [entry])
        result: dict[str, Any] = {"errors": errors, "params": self.params, "message": self.message}
        if self.transaction is not None:
            result["transaction"] = self.transaction
        return result


class NotFound(Exception):
    """A 404: the SDK raises NotFoundError."""
