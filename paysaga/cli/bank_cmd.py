"""`paysaga onboard`, `paysaga onboard-complete`, `paysaga bank-accounts ...`: bank accounts
from a terminal.

`paysaga onboard --sandbox` runs a whole onboarding against a Plaid sandbox (the local
one, or Plaid's Sandbox environment with sandbox keys): it asks Plaid's
/sandbox/public_token/create for what Link would hand the browser, so nobody copies
client ids around. Without --sandbox it prints the link token for Plaid Link; hand the
public token over with `paysaga onboard-complete`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import typer
from rich.table import Table

from paysaga.cli.console import console, friendly_errors
from paysaga.client import PaysagaClient
from paysaga.client.ids import merchant_of_onboarding
from paysaga.config.settings import Settings, load_settings
from paysaga.domain.bank_accounts import BankAccount
from paysaga.domain.errors import ValidationError
from paysaga.domain.onboarding import OnboardingView
from paysaga.domain.status import OnboardingStatus
from paysaga.sandbox import testdata

T = TypeVar("T")

MERCHANT = typer.Option(
    ..., "--merchant", envvar="PAYSAGA_MERCHANT_ID", help="Merchant id (mer_...)"
)
bank_accounts_app = typer.Typer(help="Bank accounts onboardings produced.", no_args_is_help=True)


def _run(action: Callable[[PaysagaClient, Settings], Awaitable[T]], merchant_id: str | None) -> T:
    async def main() -> T:
        settings = load_settings()
        client = await PaysagaClient.connect(settings, merchant_id=merchant_id)
        try:
            return await action(client, settings)
        finally:
            await client.close()

    return asyncio.run(main())


def render_onboarding(view: OnboardingView) -> None:
    console.print(f"onboarding [bold]{view.onboarding_id}[/]  {view.status}")
    if view.bank_account_id:
        console.print(
            f"bank account [bold]{view.bank_account_id}[/]  {view.bank_account_status}"
            f"  (owner name match: {view.owner_name_match})"
        )
    if view.last_error:
        console.print(f"[red]last error: {view.last_error}[/]")


def render_bank_account(account: BankAccount) -> None:
    console.print(
        f"bank account [bold]{account.bank_account_id}[/]  {account.status}  customer "
        f"{account.customer_id}  {account.institution_name or '-'} ...{account.last4}"
        f"  (owner name match: {account.owner_name_match})"
    )


async def _sandbox_public_token(
    settings: Settings, institution: str, username: str, password: str
) -> str:
    from paysaga.gateways.plaid_client import PlaidClient

    if settings.env == "production":
        raise ValidationError("--sandbox is refused when PAYSAGA_ENV=production", field="sandbox")
    plaid = PlaidClient.from_settings(settings)
    try:
        return await asyncio.to_thread(
            plaid.sandbox_public_token,
            institution,
            webhook=settings.plaid_webhook(),
            username=username,
            password=password,
        )
    finally:
        plaid.close()


@friendly_errors
def onboard(
    customer: str = typer.Option(..., help="Customer id"),
    name: str = typer.Option(..., help="The customer's legal name (checked against the bank's)"),
    email: str = typer.Option(..., help="The customer's email"),
    sandbox: bool = typer.Option(
        False, "--sandbox", help="Finish it with a Plaid sandbox public token (not production)"
    ),
    username: str = typer.Option(
        testdata.PLAID_USERNAME, help="--sandbox: Plaid test user (user_good, user_custom)"
    ),
    password: str = typer.Option(
        testdata.PLAID_PASSWORD, help="--sandbox: its password (user_custom: the JSON config)"
    ),
    institution: str = typer.Option(testdata.PLAID_INSTITUTION_ID, help="--sandbox: institution"),
    key: str | None = typer.Option(None, help="Idempotency key (default: random)"),
    wait_s: int = typer.Option(60, "--wait", min=1, max=3600, help="Seconds to wait for it"),
    merchant: str = MERCHANT,
) -> None:
    """Onboard a customer's bank account through Plaid; prints the bank account id."""

    async def action(client: PaysagaClient, settings: Settings) -> OnboardingView:
        view = await client.start_onboarding(
            idempotency_key=key or uuid.uuid4().hex,
            customer_id=customer,
            legal_name=name,
            email=email,
        )
        if not sandbox:
            return view
        token = await _sandbox_public_token(settings, institution, username, password)
        await client.complete_onboarding(view.onboarding_id, token)
        return await client.wait_for_onboarding(view.onboarding_id, timedelta(seconds=wait_s))

    view = _run(action, merchant)
    render_onboarding(view)
    if not sandbox:
        console.print(f"link token: [bold]{view.link_token}[/] (open Plaid Link with it), then")
        console.print(f"  paysaga onboard-complete {view.onboarding_id} PUBLIC_TOKEN")
    elif view.status != OnboardingStatus.COMPLETED:
        raise typer.Exit(1)


@friendly_errors
def onboard_complete(
    onboarding_id: str = typer.Argument(..., help="onboarding-mer_....key"),
    public_token: str = typer.Argument(..., help="What Plaid Link returned"),
    account_id: str | None = typer.Option(None, help="The account the customer picked"),
    wait_s: int = typer.Option(60, "--wait", min=1, max=3600, help="Seconds to wait for it"),
) -> None:
    """Hand over the public token from Plaid Link and wait for the bank account."""

    async def action(client: PaysagaClient, _: Settings) -> OnboardingView:
        await client.complete_onboarding(onboarding_id, public_token, account_id)
        return await client.wait_for_onboarding(onboarding_id, timedelta(seconds=wait_s))

    view = _run(action, merchant_of_onboarding(onboarding_id))
    render_onboarding(view)
    if view.status != OnboardingStatus.COMPLETED:
        raise typer.Exit(1)


@bank_accounts_app.command("list")
@friendly_errors
def list_accounts(
    customer: str | None = typer.Option(None, help="Customer id"),
    limit: int = typer.Option(50, min=1, max=1000),
    merchant: str = MERCHANT,
) -> None:
    """The merchant's bank accounts, newest first."""
    rows = _run(lambda c, _: c.list_bank_accounts(customer_id=customer, limit=limit), merchant)
    table = Table(title=f"{len(rows)} bank account(s)")
    for column in ("bank account", "customer", "status", "owner name", "bank", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.bank_account_id,
            row.customer_id,
            str(row.status),
            str(row.owner_name_match),
            f"{row.institution_name or '-'} ...{row.last4}",
            f"{row.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@bank_accounts_app.command("disable")
@friendly_errors
def disable(
    bank_account_id: str = typer.Argument(..., help="bank_..."),
    reason: str = typer.Option("", help="Why (kept with it)"),
    merchant: str = MERCHANT,
) -> None:
    """Disable for good: no payment debits it again."""
    render_bank_account(
        _run(lambda c, _: c.disable_bank_account(bank_account_id, reason), merchant)
    )


@bank_accounts_app.command("verify")
@friendly_errors
def verify(
    bank_account_id: str = typer.Argument(..., help="bank_..."),
    reason: str = typer.Option("", help="How the owner was checked"),
    merchant: str = MERCHANT,
) -> None:
    """Accept an unverified account after checking its owner another way."""
    render_bank_account(_run(lambda c, _: c.verify_bank_account(bank_account_id, reason), merchant))
