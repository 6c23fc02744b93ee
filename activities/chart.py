"""Chart of accounts: the ledger account ids the payment engine posts to.

Entries must be atomic on one shard, so system accounts exist once per shard (suffix
`:s{shard}`) and are pinned to it; a payment posts on its merchant's shard. Shard 0's
accounts are what the two-argument helpers name (e.g. for `paysaga demo` balances).
Merchant-owned accounts (payable, customer accounts) are named in paysaga.domain.accounts,
which the API also uses to decide whose an account is.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.service import Ledger
from ledger.shards import stable_shard
from ledger.types import Direction
from paysaga.domain.accounts import customer_balance, customer_receivable, merchant_payable

__all__ = [
    "AccountDef",
    "Chart",
    "bank_cash",
    "customer_balance",
    "customer_receivable",
    "gateway_fees",
    "gateway_receivable",
    "merchant_payable",
]


def gateway_receivable(gateway: str, currency: str, shard: int = 0) -> str:
    """Asset: money a gateway owes us for captured payments, until it settles."""
    return f"gateway_receivable:{gateway}:{currency}:s{shard}"


def bank_cash(currency: str, shard: int = 0) -> str:
    """Asset: money settled into our bank account."""
    return f"bank_cash:{currency}:s{shard}"


def gateway_fees(gateway: str, currency: str, shard: int = 0) -> str:
    """Expense: what a gateway kept as fees on settlement."""
    return f"gateway_fees:{gateway}:{currency}:s{shard}"


@dataclass(frozen=True)
class AccountDef:
    account_id: str
    currency: str
    normal_side: Direction
    hot: bool = False
    shard: int | None = None  # pinned shard; None = the ledger's stable hash


class Chart:
    """Creates accounts on first use (idempotent in the ledger) and remembers them."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._known: set[str] = set()

    def merchant_shard(self, merchant_id: str, currency: str) -> int:
        return stable_shard(merchant_payable(merchant_id, currency), self.ledger.shards.count)

    async def ensure(self, *accounts: AccountDef) -> None:
        for acc in accounts:
            if acc.account_id in self._known:
                continue
            if acc.shard is not None:
                await self.ledger.shards.register(acc.account_id, acc.shard)
            await self.ledger.create_account(
                acc.account_id, acc.currency, acc.normal_side, hot=acc.hot
            )
            self._known.add(acc.account_id)

    async def payment_accounts(
        self, merchant_id: str, gateway: str, currency: str
    ) -> tuple[str, str]:
        """(gateway receivable on the merchant's shard, merchant payable), both created."""
        shard = self.merchant_shard(merchant_id, currency)
        receivable = gateway_receivable(gateway, currency, shard)
        payable = merchant_payable(merchant_id, currency)
        await self.ensure(
            AccountDef(receivable, currency, "debit", shard=shard),
            AccountDef(payable, currency, "credit", hot=True, shard=shard),
        )
        return receivable, payable

    async def settlement_accounts(self, gateway: str, currency: str, shard: int) -> tuple[str, str]:
        """(bank cash, gateway fees) on one shard, both created."""
        cash, fees = bank_cash(currency, shard), gateway_fees(gateway, currency, shard)
        await self.ensure(
            AccountDef(cash, currency, "debit", shard=shard),
            AccountDef(fees, currency, "debit", shard=shard),
        )
        return cash, fees
