"""/v1/sandbox/public_token: what Plaid Link would hand the browser, for trying things out.

Mounted only when PAYSAGA_ENV is not production. It calls Plaid's own
/sandbox/public_token/create through plaid-python with our Plaid credentials (the local
sandbox or Plaid's Sandbox environment), so a developer needs no Plaid client id to
complete an onboarding: start one, get a public token here, hand it over.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from paysaga.api.auth import current_merchant
from paysaga.api.schemas import SandboxPublicTokenBody
from paysaga.api.state import AppState, app_state
from paysaga.client.errors import ServiceUnavailable
from paysaga.domain.errors import ValidationError
from paysaga.gateways.errors import GatewayError, InvalidRequest

router = APIRouter(prefix="/v1/sandbox", tags=["sandbox"])


@router.post("/public_token", status_code=201)
async def sandbox_public_token(
    merchant_id: Annotated[str, Depends(current_merchant)],
    state: Annotated[AppState, Depends(app_state)],
    body: SandboxPublicTokenBody | None = None,
) -> dict[str, Any]:
    body = body or SandboxPublicTokenBody()
    try:
        token = await asyncio.to_thread(
            state.plaid.sandbox_public_token,
            body.institution_id,
            webhook=state.settings.plaid_webhook(),
            username=body.override_username,
            password=body.override_password,
        )
    except InvalidRequest as exc:
        # Plaid refused the institution or the test credentials: the caller's input.
        raise ValidationError(f"plaid sandbox: {exc.message}", field=exc.field) from exc
    except GatewayError as exc:
        raise ServiceUnavailable(f"plaid sandbox: {exc.message}") from exc
    return {"object": "sandbox_public_token", "public_token": token}
