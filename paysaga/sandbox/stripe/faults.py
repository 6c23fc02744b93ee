"""How the injected faults look on Stripe's wire.

The server rolls the dice once per request, after it has parsed and checked it;
`refusal` answers a 500 or 429 before any side effect, `withheld` is what the client
gets when the side effect happened but the answer never arrives.
"""

from __future__ import annotations

from starlette.responses import Response

from paysaga.sandbox.dropped import DroppedResponse
from paysaga.sandbox.faults import Fault, FaultConfig, hang
from paysaga.sandbox.stripe.errors import StripeApiError, error_response


def refusal(fault: Fault, config: FaultConfig, headers: dict[str, str]) -> Response | None:
    """The error a failed roll answers with, before any side effect; None: go on."""
    if fault is Fault.SERVER_ERROR:
        return error_response(
            StripeApiError(500, "api_error", "An unknown error occurred (sandbox fault)."),
            headers,
        )
    if fault is Fault.RATE_LIMITED:
        headers["Retry-After"] = str(config.retry_after_s)
        return error_response(
            StripeApiError(
                429,
                "invalid_request_error",
                "Too many requests (sandbox fault).",
                code="rate_limit",
            ),
            headers,
        )
    return None


# Fields of the objects Stripe answers with that an integration reads; the
# malformed_response fault drops one or changes its type.
DRIFTING_FIELDS = (
    "amount",
    "amount_received",
    "amount_capturable",
    "status",
    "latest_charge",
    "charge",
    "payment_intent",
    "amount_refunded",
)


def key_in_use(key: str) -> StripeApiError:
    """Stripe's answer to a request whose idempotency key another request is running."""
    return StripeApiError(
        409,
        "idempotency_error",
        "There is currently another in-progress request using this Idempotent Key (that "
        "probably means you submitted twice, and the other request is still going "
        f"through): {key}. Please try again later.",
        code="idempotency_key_in_use",
    )


async def withheld(config: FaultConfig) -> Response:
    """The side effect happened; withhold the answer, then drop the connection."""
    await hang(config)
    return DroppedResponse()
