"""`paysaga pay|capture|cancel|refund|status|payments|reconcile`: payments from a terminal.

These talk to Temporal through PaysagaClient (the same code path as the API).
`status` renders the workflow's live `status` query as a timeline.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import typer
from rich.table import Table
from rich.tree import Tree

from paysaga.cli.console import console, friendly_errors
from paysaga.client import PaysagaClient
from paysaga.client.ids import merchant_of_payment
from paysaga.config.settings import load_settings
from paysaga.domain.errors import ValidationError
from paysaga.domain.money import Money
from paysaga.domain.payments import PaymentView

T = TypeVar("T")

MERCHANT = typer.Option(
    ..., "--merchant", envvar="PAYSAGA_MERCHANT_ID", help="Merchant id (mer_...)"
)


def _run(action: Callable[[PaysagaClient], Awaitable[T]], merchant_id: str | None = None) -> T:
    async def main() -> T:
        client = await PaysagaClient.connect(load_settings(), merchant_id=merchant_id)
        try:
            return await action(client)
        finally:
            await client.close()

    return asyncio.run(main())


def _money(amount: int, currency: str) -> str:
    try:
        return Money(amount, currency).format()
    except Exception:
        return f"{amount} {currency}"


def render_payment(view: PaymentView) -> None:
    source = f"  from {view.bank_account_id}" if view.bank_account_id else ""
    tree = Tree(
        f"[bold]{view.payment_id}[/]  {view.status}  {_money(view.amount_minor, view.currency)}"
        f"  via {view.gateway or '-'}{source}"
    )
    for step in view.steps:
        detail = f" [dim]{step.detail}[/]" if step.detail else ""
        tree.add(f"{step.at:%Y-%m-%d %H:%M:%S}  {step.name}{detail}")
    console.print(tree)
    facts = [
        f"captured {_money(view.captured_minor, view.currency)}",
        f"refunded {_money(view.refunded_minor, view.currency)}",
        f"attempts {view.attempts}",
    ]
    if view.decline_code:
        facts.append(f"[red]declined: {view.decline_code}[/]")
    if view.last_error:
        facts.append(f"[red]last error: {view.last_error}[/]")
    if view.next_retry_at:
        facts.append(f"next retry {view.next_retry_at:%H:%M:%S}")
    console.print("  " + " · ".join(facts))


@friendly_errors
def pay(
    amount_minor: int = typer.Option(..., "--amount", help="Integer minor units, e.g. 1500"),
    currency: str = typer.Option("USD"),
    customer: str = typer.Option(..., help="Customer id"),
    method: str | None = typer.Option(None, help="Card payment method token (pm_card_visa)"),
    bank_account: str | None = typer.Option(
        None, "--bank-account", help="ACH debit from an onboarded bank account (bank_...)"
    ),
    balance_check: bool = typer.Option(
        False, "--balance-check", help="ACH: decline if Plaid Balance says it is short"
    ),
    gateway: str | None = typer.Option(None, help="stripe | braintree | ach"),
    manual_capture: bool = typer.Option(False, help="Authorize only; capture later"),
    key: str | None = typer.Option(None, help="Idempotency key (default: random)"),
    merchant: str = MERCHANT,
) -> None:
    """Start a payment (card, or ACH with --bank-account) and wait briefly for it."""
    if gateway == "ach" and bank_account is None:
        raise ValidationError(
            "an ACH debit names the customer's bank account: --bank-account bank_... "
            "(from `paysaga onboard`)",
            field="--bank-account",
        )
    if bank_account is not None and gateway not in (None, "ach", "stripe"):
        raise ValidationError("a bank account is debited by ACH through Stripe", field="--gateway")
    view = _run(
        lambda c: c.create_payment(
            idempotency_key=key or uuid.uuid4().hex,
            amount_minor=amount_minor,
            currency=currency,
            customer_id=customer,
            payment_method=method if bank_account else (method or "pm_card_visa"),
            gateway=None if gateway == "ach" else gateway,
            capture=not manual_capture,
            wait=timedelta(seconds=20),
            bank_account_id=bank_account,
            balance_check=balance_check,
        ),
        merchant,
    )
    render_payment(view)


@friendly_errors
def capture(
    payment_id: str,
    amount_minor: int | None = typer.Option(None, "--amount", help="Partial capture"),
) -> None:
    """Capture an authorized payment."""
    render_payment(_run(lambda c: c.capture(payment_id, amount_minor)))


@friendly_errors
def cancel(payment_id: str) -> None:
    """Cancel (void) a payment that is not captured."""
    render_payment(_run(lambda c: c.cancel(payment_id)))


@friendly_errors
def refund(
    payment_id: str,
    amount_minor: int = typer.Option(..., "--amount", help="Integer minor units"),
    key: str | None = typer.Option(None, help="Idempotency key of this refund"),
) -> None:
    """Refund part or all of a captured payment."""
    outcome = _run(lambda c: c.refund(payment_id, amount_minor, request_id=key))
    console.print(
        f"refund {outcome.reference} {outcome.status}: "
        f"{_money(outcome.amount_minor, outcome.currency)} "
        f"(total refunded {_money(outcome.refunded_total_minor, outcome.currency)})"
    )


@friendly_errors
def status(payment_id: str) -> None:
    """The payment's live state (the workflow's `status` query) as a timeline."""
    render_payment(_run(lambda c: c.get_payment(payment_id), merchant_of_payment(payment_id)))


@friendly_errors
def payments(
    status_filter: str | None = typer.Option(None, "--status", help="e.g. awaiting_capture"),
    customer: str | None = typer.Option(None, help="Customer id"),
    merchant: str | None = typer.Option(None, envvar="PAYSAGA_MERCHANT_ID"),
    limit: int = typer.Option(50, min=1, max=1000),
) -> None:
    """List payments from Temporal visibility (search attributes)."""
    rows = _run(
        lambda c: c.list_payments(status=status_filter, customer=customer, limit=limit), merchant
    )
    table = Table(title=f"{len(rows)} payment(s)")
    for column in ("payment", "status", "amount", "customer", "gateway", "started", "last error"):
        table.add_column(column)
    for row in rows:
        amount = (
            _money(row.amount_minor, row.currency) if row.amount_minor and row.currency else "-"
        )
        started = row.started_at.strftime("%Y-%m-%d %H:%M") if row.started_at else "-"
        table.add_row(
            row.payment_id,
            row.status or "-",
            amount,
            row.customer_id or "-",
            row.gateway or "-",
            started,
            (row.last_error or "")[:60],
        )
    console.print(table)


@friendly_errors
def reconcile(
    date: str = typer.Option(..., "--date", help="UTC day to reconcile, YYYY-MM-DD"),
) -> None:
    """Start reconciliation of one day against the gateways' settlement reports."""
    started = _run(lambda c: c.reconcile(date))
    verb = "already running" if started.already_running else "started"
    console.print(f"reconciliation {started.reconciliation_id} {verb}")
