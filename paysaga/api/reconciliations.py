"""/v1/reconciliations: start the reconciliation of one UTC day (202, runs in Temporal)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from paysaga.api.auth import current_merchant
from paysaga.api.schemas import ReconciliationBody
from paysaga.api.state import AppState, app_state
from paysaga.api.views import reconciliation_json

router = APIRouter(prefix="/v1/reconciliations", tags=["reconciliation"])


@router.post("", status_code=202)
async def start_reconciliation(
    body: ReconciliationBody,
    merchant_id: Annotated[str, Depends(current_merchant)],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, Any]:
    started = await state.payments.reconcile(body.period)
    return reconciliation_json(started)
