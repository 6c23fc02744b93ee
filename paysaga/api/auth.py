"""`Authorization: Bearer psk_...` -> the merchant the key belongs to.

Failed attempts are counted per client IP; over the limit the caller gets 429 with
Retry-After before its key is even looked at, so guessing keys is slow.
"""

from __future__ import annotations

from fastapi import Depends, Request

from paysaga.api.state import AppState, app_state
from paysaga.client.errors import TooManyRequests, Unauthorized


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def current_merchant(request: Request, state: AppState = Depends(app_state)) -> str:
    ip = client_ip(request)
    wait = state.auth_limiter.retry_after(ip)
    if wait > 0:
        raise TooManyRequests("too many failed authentication attempts", retry_after_s=wait)
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    merchant_id = None
    if scheme.lower() == "bearer" and presented:
        merchant_id = await state.merchants.authenticate(presented.strip())
    if merchant_id is None:
        state.auth_limiter.record_failure(ip)
        raise Unauthorized(
            "missing or invalid API key (Authorization: Bearer psk_...)", field="Authorization"
        )
    return merchant_id
