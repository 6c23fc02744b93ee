"""PlaidActivities: bank-account onboarding through Plaid, and the Stripe bank account.

The access token is stored envelope-encrypted in the secret store at once; workflows and
their history only ever see its record id. So is the Stripe bank-account token Plaid
mints for the account: a retry of the bank-account step reuses it, so its Stripe
request (whose idempotency key names the token) replays instead of failing on changed
parameters or attaching the bank account twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import TypeVar

import structlog
from temporalio import activity

from activities.errors import invalid_request, translated
from paysaga.domain import activity_names as names
from paysaga.domain.accounts import merchant_of_onboarding
from paysaga.domain.bank_accounts import BalanceCheckInput, BalanceCheckResult
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
from paysaga.security.errors import SecretNotFound
from paysaga.security.secret_store import SecretKind, SecretStore

log = structlog.get_logger()
T = TypeVar("T")


def access_token_ref(onboarding_id: str) -> str:
    return f"plaid-access:{onboarding_id}"


def processor_token_ref(onboarding_id: str) -> str:
    return f"plaid-processor:{onboarding_id}"


def bank_account_key(onboarding_id: str, processor_token: str) -> str:
    """Stripe idempotency key of attaching this token: it follows the token (a digest, so
    the token itself is not written to Stripe's logs)."""
    digest = hashlib.sha256(processor_token.encode()).hexdigest()[:16]
    return f"onboarding-{onboarding_id}:bank:{digest}"


class PlaidActivities:
    def __init__(
        self,
        plaid: PlaidClient,
        secrets: SecretStore,
        stripe: StripeGateway,
        *,
        webhook: str | None = None,
        redirect_uri: str | None = None,
    ) -> None:
        self.plaid = plaid
        self.secrets = secrets
        self.stripe = stripe
        self.webhook = webhook  # our Plaid webhook URL, put in every link token
        self.redirect_uri = redirect_uri  # OAuth institutions return the user here

    def activities(self) -> list[Callable[..., object]]:
        return [
            self.create_link_token,
            self.exchange_public_token,
            self.verify_account,
            self.create_bank_account,
            self.send_reminder,
            self.check_balance,
        ]

    async def _call(self, fn: Callable[[], T]) -> T:
        with translated():
            return await asyncio.to_thread(fn)

    @activity.defn(name=names.PLAID_LINK_TOKEN)
    async def create_link_token(self, request: LinkTokenInput) -> LinkToken:
        # Plaid's user id is per merchant too: two merchants' `cust-1` are two people.
        merchant = merchant_of_onboarding(request.onboarding_id)
        user = f"{merchant}.{request.customer_id}" if merchant else request.customer_id
        token = await self._call(
            lambda: self.plaid.create_link_token(
                user, webhook=self.webhook, redirect_uri=self.redirect_uri
            )
        )
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
            institution_name=account.institution_name,
            subtype=account.subtype,
        )

    @activity.defn(name=names.PLAID_BANK_ACCOUNT)
    async def create_bank_account(self, request: BankAccountInput) -> BankAccountResult:
        processor_token = await self._processor_token(request)
        customer = await self._call(
            lambda: self.stripe.create_customer(
                f"onboarding-{request.onboarding_id}:customer",
                email=request.email,
                name=request.legal_name,
            )
        )
        key = bank_account_key(request.onboarding_id, processor_token)
        bank_account = await self._call(
            lambda: self.stripe.attach_bank_account(key, customer, processor_token)
        )
        return BankAccountResult(customer_ref=customer, bank_account_ref=bank_account)

    async def _processor_token(self, request: BankAccountInput) -> str:
        """The onboarding's one Stripe bank-account token: minted by Plaid once, then reused.

        Plaid mints a new token per call and Stripe takes each once, so a retry that minted
        again would send the attach with new parameters (same key: an idempotency error;
        new key: a second bank account if the first attach landed unseen).
        """
        ref = processor_token_ref(request.onboarding_id)
        try:
            return await self.secrets.get_text(ref)
        except SecretNotFound:
            pass
        access = await self.secrets.get_text(request.access_token_ref)
        token = await self._call(
            lambda: self.plaid.create_stripe_bank_account_token(access, request.account_id)
        )
        await self.secrets.put(ref, SecretKind.GATEWAY_TOKEN, token)
        return token

    @activity.defn(name=names.PLAID_REMIND)
    async def send_reminder(self, request: ReminderInput) -> None:
        # Delivery (email, push) is the notifier's job; we record that one is due.
        log.info(
            "onboarding.reminder_due",
            onboarding_id=request.onboarding_id,
            customer_id=request.customer_id,
            reminder=request.number,
        )

    @activity.defn(name=names.PLAID_BALANCE)
    async def check_balance(self, request: BalanceCheckInput) -> BalanceCheckResult:
        """The account's real-time balance (Plaid Balance), before a debit that asked."""
        token = await self.secrets.get_text(request.plaid_access_token_ref)
        balance = await self._call(lambda: self.plaid.get_balance(token, request.plaid_account_id))
        log.info("plaid.balance_checked", payment_id=request.payment_id)
        return BalanceCheckResult(
            available_minor=balance.available_minor,
            current_minor=balance.current_minor,
            currency=balance.currency,
        )
