"""`Authorization: Bearer psk_...` -> who is calling, and what its key may do.

The key is always verified first: a valid key is never refused because other callers
failed (see auth_throttle for how failures are limited). Merchant keys reach the
merchant's resources; operator keys reach platform operations only (403 otherwise).
"""

from __future__ import annotations

from fastapi import Depends, Request

from paysaga.api.state import AppState, app_state
from paysaga.client.control.keys import MERCHANT, OPERATOR, Principal
from paysaga.client.errors import (
    MerchantKeyRequired,
    OperatorKeyRequired,
    TooManyRequests,
    Unauthorized,
)
from paysaga.security.api_keys import key_id_of


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def current_principal(request: Request, state: AppState = Depends(app_state)) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    presented = presented.strip()
    principal = None
    if scheme.lower() == "bearer" and presented:
        principal = await state.api_keys.authenticate(presented)
    if principal is not None:
        return principal
    wait = state.auth_throttle.failed(key_id_of(presented), client_ip(request))
    if wait > 0:
        raise TooManyRequests("too many failed authentication attempts", retry_after_s=wait)
    raise Unauthorized(
        "missing or invalid API key (Authorization: Bearer psk_...)", field="Authorization"
    )


async def current_merchant(principal: Principal = Depends(current_principal)) -> str:
    """The merchant a merchant key acts for; 403 for an operator key."""
    if principal.scope != MERCHANT or principal.merchant_id is None:
        raise MerchantKeyRequired(
            "this endpoint acts for a merchant: use a merchant API key", field="Authorization"
        )
    return principal.merchant_id


async def current_operator(principal: Principal = Depends(current_principal)) -> Principal:
    """An operator key; 403 for a merchant key (platform operations are not a merchant's)."""
    if principal.scope != OPERATOR:
        raise OperatorKeyRequired(
            "this is a platform operation: use an operator API key "
            "(`paysaga keys issue --operator`)",
            field="Authorization",
        )
    return principal
