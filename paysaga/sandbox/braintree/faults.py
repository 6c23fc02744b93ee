"""How the injected faults look on the Braintree gateway's wire.

The server rolls the dice once per request, after the auth check; `refusal` answers
a bare 500 or 429 (what the SDK turns into ServerError / TooManyRequestsError) before
any side effect, `withheld` answers after the side effect, too late for the client.
"""

from __future__ import annotations

from starlette.responses import Response

from paysaga.sandbox.faults import Fault, FaultConfig, hang


def refusal(fault: Fault, config: FaultConfig) -> Response | None:
    """The answer to a failed roll, before any side effect; None: go on."""
    if fault is Fault.SERVER_ERROR:
        return Response(status_code=500)
    if fault is Fault.RATE_LIMITED:
        return Response(status_code=429, headers={"Retry-After": f"{config.retry_after_s:g}"})
    return None


# Transaction fields an integration reads; the malformed_response fault drops one or
# changes its type (an XML element the SDK then reads as a dict, or not at all).
DRIFTING_FIELDS = ("amount", "status", "order_id", "currency_iso_code", "status_history", "type")


async def withheld(config: FaultConfig) -> Response:
    """The side effect happened; withhold the answer past the client's timeout."""
    await hang(config)
    return Response(status_code=500)
