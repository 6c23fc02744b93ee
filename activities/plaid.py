"""PlaidActivities: bank-account onboarding through Plaid, and the Stripe bank account.

The access token is stored envelope-encrypted in the secret store at once; workflows and
their history only ever see its record id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import structlog
from temporalio import activity

from activities.errors import invalid_request, translated
from paysaga.domain import activity_names as names
from paysaga.domain.onboarding import (
    BankAccountInput,
    BankAccountResult,
    BankVerification,
    ExchangeInput,
    ExchangeResult,
    LinkToken,
    LinkTokenInput,
    ReminderInput,
    VerifyInput,
)
from paysaga.gateways.plaid_client import PlaidClient
from paysaga.gateways.stripe_gateway import StripeGateway
from paysaga.security.secret_store import SecretKind, SecretStore

log = structlog.get_logger()
T = TypeVar("T")


def access_token_ref(onboarding_id: str) -> str:
    return f"plaid-access:{onboarding_id}"


class PlaidActivities:
    def __init__(self, plaid: PlaidClient, secrets: SecretStore, stripe: StripeGateway) -> None:
        self.plaid = plaid
        self.secrets = secrets
        self.stripe = stripe

    def activities(self) -> list[Callable[..., object]]:
        return [
            self.create_link_token,
            self.exchange_public_token,
            self.verify_account,
            self.create_bank_account,
            self.send_reminder,
        ]

    async def _call(self, fn: Callable[[], T]) -> T:
        with translated():
            return await asyncio.to_thread(fn)

    @activity.defn(name=names.PLAID_LINK_TOKEN)
    async def create_link_token(self, request: LinkTokenInput) -> LinkToken:
        token = await self._call(lambda: self.plaid.create_link_token(request.customer_id))
        return LinkToken(link_token=token)

    @activity.defn(name=names.PLAID_EXCHANGE)
    async def exchange_public_token(self, request: ExchangeInput) -> ExchangeResult:
        item = await self._call(lambda: self.plaid.exchange_public_token(request.public_token))
        ref = access_token_ref(request.onboarding_id)
        await self.secrets.put(ref, SecretKind.PLAID_ACCESS_TOKEN, item.access_token)
        log.info("plaid.exchanged", onboarding_id=request.onboarding_id, item_id=item.item_id)
        return ExchangeResult(item_id=item.item_id, access_token_ref=ref)

    @activity.defn(name=names.PLAID_VERIFY)
    async def verify_account(self, request: VerifyInput) -> BankVerification:
        token = await self.secrets.get_text(request.access_token_ref)
        accounts = await self._call(lambda: self.plaid.get_auth(token))
        owners = await self._call(lambda: self.plaid.get_identity(token))
        if request.account_id:
            chosen = [a for a in accounts if a.account_id == request.account_id]
        else:
            chosen = [a for a in accounts if a.subtype == "checking"] or accounts
        if not chosen:
            raise invalid_request("no account with ACH numbers")
        account = chosen[0]
        names_of = tuple(n for o in owners if o.account_id == account.account_id for n in o.names)
        return BankVerification(
            account_id=account.account_id,
            mask=account.mask or "",
            owner_names=names_of,
            has_ach_numbers=bool(account.account_number and account.routing_number),
        )

    @activity.defn(name=names.PLAID_BANK_ACCOUNT)
    async def create_bank_account(self, request: BankAccountInput) -> BankAccountResult:
        token = await self.secrets.get_text(request.access_token_ref)
        processor_token = await self._call(
            lambda: self.plaid.create_stripe_bank_account_token(token, request.account_id)
        )
        key = f"onboarding-{request.onboarding_id}"
        customer = await self._call(
            lambda: self.stripe.create_customer(
                f"{key}:customer", email=request.email, name=request.legal_name
            )
        )
        bank_account = await self._call(
            lambda: self.stripe.attach_bank_account(f"{key}:bank", customer, processor_token)
        )
        return BankAccountResult(customer_ref=customer, bank_account_ref=bank_account)

    @activity.defn(name=names.PLAID_REMIND)
    async def send_reminder(self, request: ReminderInput) -> None:
        # Delivery (email, push) is the notifier's job; we record that one is due.
        log.info(
            "onboarding.reminder_due",
            onboarding_id=request.onboarding_id,
            customer_id=request.customer_id,
            reminder=request.number,
        )
