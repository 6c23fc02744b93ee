"""What the three sandboxes' `/__sandbox/*` control APIs share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from paysaga.sandbox.faults import FaultInjector

Endpoint = Callable[[Request], Awaitable[Response]]


def faults_endpoint(injector: FaultInjector) -> Endpoint:
    """`GET /__sandbox/faults` reads the fault config, `POST` replaces it."""

    async def endpoint(request: Request) -> Response:
        if request.method == "POST":
            try:
                injector.configure(await request.json())
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(injector.config.to_dict())

    return endpoint


# The `by_payment_id` row of charges that carry no payment id of ours: audits must
# see every charge a gateway holds, not only those our payments know.
UNATTRIBUTED = "(no payment id)"


def payment_row() -> dict[str, int]:
    """One payment's row in `stats.by_payment_id`, filled in from what the gateway holds."""
    return {
        "captured_charges": 0,
        "captured_minor": 0,
        "refunded_minor": 0,
        "open_authorizations": 0,
    }
