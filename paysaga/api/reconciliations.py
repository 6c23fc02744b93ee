"""/v1/reconciliations: start the reconciliation of one UTC day (202, runs in Temporal).

Reconciliation covers every merchant's payments, so it takes an operator key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from paysaga.api.auth import current_operator
from paysaga.api.schemas import ReconciliationBody
from paysaga.api.state import AppState, app_state
from paysaga.api.views import reconciliation_json
from paysaga.client.control.keys import Principal

router = APIRouter(prefix="/v1/reconciliations", tags=["reconciliation"])


@router.post("", status_code=202)
async def start_reconciliation(
    body: ReconciliationBody,
    operator: Annotated[Principal, Depends(current_operator)],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, Any]:
    started = await state.payments.reconcile(body.period)
    return reconciliation_json(started)
