"""/v1/onboardings: start bank-account onboarding (Plaid Link), hand over the public token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path

from paysaga.api.auth import current_merchant
from paysaga.api.schemas import CompleteOnboardingBody, StartOnboardingBody
from paysaga.api.state import AppState, app_state
from paysaga.api.views import onboarding_json
from paysaga.client.control.idempotency import body_hash
from paysaga.client.ids import IDEMPOTENCY_KEY_RE, ONBOARDING_ID_RE, check, onboarding_id_for
from paysaga.domain.errors import ValidationError

router = APIRouter(prefix="/v1/onboardings", tags=["onboarding"])

Merchant = Annotated[str, Depends(current_merchant)]
State = Annotated[AppState, Depends(app_state)]
OnboardingId = Annotated[str, Path(max_length=300)]


@router.post("", status_code=201)
async def start_onboarding(
    body: StartOnboardingBody,
    merchant_id: Merchant,
    state: State,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=100)] = None,
) -> dict[str, Any]:
    if idempotency_key is None:
        raise ValidationError("the Idempotency-Key header is required", field="Idempotency-Key")
    key = check(IDEMPOTENCY_KEY_RE, idempotency_key, "Idempotency-Key", "idempotency key")
    await state.idempotency.claim(
        merchant_id,
        "onboarding",
        key,
        body_hash(body.model_dump(mode="json")),
        onboarding_id_for(merchant_id, key),
    )
    view = await state.payments.for_merchant(merchant_id).start_onboarding(
        idempotency_key=key, customer_id=body.customer_id, legal_name=body.name, email=body.email
    )
    return onboarding_json(view)


@router.get("/{onboarding_id}")
async def get_onboarding(
    onboarding_id: OnboardingId, merchant_id: Merchant, state: State
) -> dict[str, Any]:
    check(ONBOARDING_ID_RE, onboarding_id, "onboarding_id", "onboarding id")
    view = await state.payments.for_merchant(merchant_id).get_onboarding(onboarding_id)
    return onboarding_json(view)


@router.post("/{onboarding_id}/public_token")
async def complete_onboarding(
    onboarding_id: OnboardingId,
    body: CompleteOnboardingBody,
    merchant_id: Merchant,
    state: State,
) -> dict[str, Any]:
    check(ONBOARDING_ID_RE, onboarding_id, "onboarding_id", "onboarding id")
    view = await state.payments.for_merchant(merchant_id).complete_onboarding(
        onboarding_id, body.public_token
    )
    return onboarding_json(view)
