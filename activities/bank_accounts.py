"""BankAccountActivities: record the bank account an onboarding produced.

On the gateways queue, whose workers reach the control database (shard 0) as they do
the secret store. The row's id derives from the onboarding, so a retry writes nothing new.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity

from activities.errors import translated
from paysaga.client.control.bank_accounts import BankAccountStore
from paysaga.domain import activity_names as names
from paysaga.domain.bank_accounts import RecordBankAccountInput, RecordBankAccountResult


class BankAccountActivities:
    def __init__(self, store: BankAccountStore) -> None:
        self.store = store

    def activities(self) -> list[Callable[..., object]]:
        return [self.record]

    @activity.defn(name=names.RECORD_BANK_ACCOUNT)
    async def record(self, request: RecordBankAccountInput) -> RecordBankAccountResult:
        with translated():
            account = await self.store.record(request)
        return RecordBankAccountResult(account.bank_account_id, str(account.status))
