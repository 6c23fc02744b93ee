"""The balance precheck of an ACH debit (PaymentOptions.balance_check): Plaid Balance
before anything is held or sent, and a decline `insufficient_funds_precheck` when the
account's available balance is below the amount.

Only payments that ask for it reach this step (the option did not exist before), so
histories recorded before it replay unchanged without a patch.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.bank_accounts import INSUFFICIENT_FUNDS_PRECHECK, BalanceCheckInput
    from workflows import calls
    from workflows.failures import PaymentFailure

from workflows.payment.state import PaymentState


def wanted(state: PaymentState) -> bool:
    request = state.request
    return request.bank_account is not None and request.options.balance_check


async def precheck(state: PaymentState) -> None:
    """Raise PaymentFailure (declined, nothing to compensate) unless the balance covers it."""
    request = state.request
    account = request.bank_account
    assert account is not None
    result = await calls.plaid_balance(
        state.routing,
        BalanceCheckInput(
            payment_id=state.payment_id,
            plaid_access_token_ref=account.plaid_access_token_ref,
            plaid_account_id=account.plaid_account_id,
            amount_minor=request.amount_minor,
            currency=request.currency,
        ),
    )
    # The figures stay out of the view and the search attributes: a verdict is enough.
    if result.covers(request.amount_minor, request.currency):
        state.step("balance_checked", "available balance covers the amount")
        return
    reason = (
        f"declined ({INSUFFICIENT_FUNDS_PRECHECK}): the account's available balance "
        "is below the amount"
    )
    state.step("balance_checked", "available balance below the amount")
    state.update(decline_code=INSUFFICIENT_FUNDS_PRECHECK, last_error=reason)
    raise PaymentFailure(reason)
