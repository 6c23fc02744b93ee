"""/v1/bank_accounts: the bank accounts onboardings produced (read, list, disable, verify)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query

from paysaga.api.auth import current_merchant
from paysaga.api.schemas import BankAccountActionBody
from paysaga.api.state import AppState, app_state
from paysaga.api.views import bank_account_json
from paysaga.client import PaysagaClient

router = APIRouter(prefix="/v1/bank_accounts", tags=["bank accounts"])

Merchant = Annotated[str, Depends(current_merchant)]
State = Annotated[AppState, Depends(app_state)]
BankAccountId = Annotated[str, Path(max_length=64, description="bank_ + 24 hex digits")]
Action = Annotated[BankAccountActionBody | None, Body()]


def _client(state: AppState, merchant_id: str) -> PaysagaClient:
    return state.payments.for_merchant(merchant_id)


@router.get("")
async def list_bank_accounts(
    merchant_id: Merchant,
    state: State,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    accounts = await _client(state, merchant_id).list_bank_accounts(
        customer_id=customer_id, limit=limit
    )
    return {"object": "list", "data": [bank_account_json(a) for a in accounts]}


@router.get("/{bank_account_id}")
async def get_bank_account(
    bank_account_id: BankAccountId, merchant_id: Merchant, state: State
) -> dict[str, Any]:
    return bank_account_json(await _client(state, merchant_id).get_bank_account(bank_account_id))


@router.post("/{bank_account_id}/disable")
async def disable_bank_account(
    bank_account_id: BankAccountId, merchant_id: Merchant, state: State, body: Action = None
) -> dict[str, Any]:
    """No payment debits it again (final). Debits already submitted go on."""
    account = await _client(state, merchant_id).disable_bank_account(
        bank_account_id, body.reason if body else ""
    )
    return bank_account_json(account)


@router.post("/{bank_account_id}/verify")
async def verify_bank_account(
    bank_account_id: BankAccountId, merchant_id: Merchant, state: State, body: Action = None
) -> dict[str, Any]:
    """Accept an unverified account after checking its owner another way."""
    account = await _client(state, merchant_id).verify_bank_account(
        bank_account_id, body.reason if body else ""
    )
    return bank_account_json(account)
