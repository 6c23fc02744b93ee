"""The outside world the activities need, opened once per worker process."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.service import Ledger
from paysaga.client.control.bank_accounts import BankAccountStore
from paysaga.client.control.db import control_engine
from paysaga.config.settings import Settings
from paysaga.gateways.base import CardGateway
from paysaga.gateways.braintree_gateway import BraintreeGateway
from paysaga.gateways.plaid_client import PlaidClient
from paysaga.gateways.stripe_gateway import StripeGateway
from paysaga.security.keyring import Keyring
from paysaga.security.secret_store import SecretStore


@dataclass
class Dependencies:
    gateways: dict[str, CardGateway] = field(default_factory=dict)
    plaid: PlaidClient | None = None
    secrets: SecretStore | None = None
    ledger: Ledger | None = None
    report_dsn: str = ""
    control: AsyncEngine | None = None  # shard 0's control tables (bank accounts)
    bank_accounts: BankAccountStore | None = None

    @classmethod
    async def open(cls, settings: Settings, *, gateways: bool, ledger: bool) -> Dependencies:
        deps = cls(report_dsn=settings.shard_urls()[0])
        if gateways:
            deps.gateways = {
                "stripe": StripeGateway.from_settings(settings),
                "braintree": BraintreeGateway.from_settings(settings),
            }
            deps.plaid = PlaidClient.from_settings(settings)
            deps.secrets = SecretStore(settings.shard_urls()[0], Keyring.from_settings(settings))
            deps.control = control_engine(settings.shard_urls()[0], pool_size=2)
            deps.bank_accounts = BankAccountStore(deps.control)
        if ledger:
            # A shard that is down must not keep the worker from starting (a worker killed
            # during a shard outage is restarted into it): its calls fail with the
            # retryable ShardUnavailable until it is back; the other shards serve.
            deps.ledger = await Ledger(settings.shard_urls()).open(require_all=False)
        return deps

    async def close(self) -> None:
        for gateway in self.gateways.values():
            close = getattr(gateway, "close", None)
            if close:
                close()
        if self.plaid:
            self.plaid.close()
        if self.ledger:
            await self.ledger.close()
        if self.control:
            await self.control.dispose()
