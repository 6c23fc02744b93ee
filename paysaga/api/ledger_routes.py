"""/v1/ledger/accounts/{id}: balances of one of the caller's ledger accounts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from ledger.errors import UnknownAccount
from paysaga.api.auth import current_merchant
from paysaga.api.state import AppState, app_state
from paysaga.client.errors import AccountNotFound
from paysaga.client.ids import ACCOUNT_ID_RE, check
from paysaga.domain.accounts import owner_of_account

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])


@router.get("/accounts/{account_id}")
async def account_balances(
    account_id: Annotated[str, Path(max_length=128)],
    merchant_id: Annotated[str, Depends(current_merchant)],
    state: Annotated[AppState, Depends(app_state)],
) -> dict[str, Any]:
    check(ACCOUNT_ID_RE, account_id, "account_id", "account id")
    # Only the merchant's own accounts, by the owner parsed from the id (exact match):
    # another merchant's account is indistinguishable from one that does not exist.
    if owner_of_account(account_id) != merchant_id:
        raise AccountNotFound(f"no account {account_id!r}", field="account_id")
    try:
        balances = await state.ledger.get_balances(account_id)
    except UnknownAccount:
        raise AccountNotFound(f"no account {account_id!r}", field="account_id") from None
    return {
        "id": account_id,
        "object": "ledger_account",
        "currency": balances.currency,
        "normal_side": balances.normal_side,
        "posted_minor": balances.posted,
        "pending_minor": balances.pending,
        "available_minor": balances.available,
        "version": balances.version,
    }
