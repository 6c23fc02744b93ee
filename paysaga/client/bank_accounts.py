"""PaysagaClient's bank accounts: the ones onboardings produced, read and switched off.

They live on the control database (client.control.bank_accounts), so these methods need
a client built with one (`PaysagaClient.connect`). A merchant sees only its own.
"""

from __future__ import annotations

from paysaga.client.base import ClientBase
from paysaga.domain.bank_accounts import BankAccount


class BankAccountsMixin(ClientBase):
    async def get_bank_account(self, bank_account_id: str) -> BankAccount:
        return await self._bank_accounts().get(self._merchant(), bank_account_id)

    async def list_bank_accounts(
        self, *, customer_id: str | None = None, limit: int = 100
    ) -> list[BankAccount]:
        """This merchant's bank accounts (of one customer), newest first."""
        return await self._bank_accounts().list(
            self._merchant(), customer_id=customer_id, limit=limit
        )

    async def disable_bank_account(self, bank_account_id: str, reason: str = "") -> BankAccount:
        """No payment debits it again (payments already submitted go on). Final."""
        return await self._bank_accounts().disable(self._merchant(), bank_account_id, reason)

    async def verify_bank_account(self, bank_account_id: str, reason: str = "") -> BankAccount:
        """Accept an unverified account (the bank gave no owner name) after checking its
        owner another way; payments may then debit it."""
        return await self._bank_accounts().verify(self._merchant(), bank_account_id, reason)
