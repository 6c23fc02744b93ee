"""`paysaga stuck`: which payments stopped moving, and why; optionally retry or cancel them."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import typer
from rich.progress import Progress
from temporalio.client import Client

from paysaga.cli.console import console, friendly_errors
from paysaga.client.stuck import StuckPayment, cancel_payment, find_stuck, retry_now
from paysaga.config.settings import Settings, load_settings
from paysaga.domain.errors import ValidationError

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


# Longer than anything we keep (a payment's refund window, the sweep's lookback), and
# far below what overflows a datetime when subtracted from now.
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str, field: str = "--older-than") -> timedelta:
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise ValidationError(f"{text!r} is not a duration like 30s, 15m, 2h or 1d", field=field)
    amount, unit = int(match.group(1)), _UNITS[match.group(2)]
    if amount > MAX_DURATION / timedelta(**{unit: 1}):
        raise ValidationError(f"{text!r} is longer than {MAX_DURATION.days} days", field=field)
    return timedelta(**{unit: amount})


def render(payment: StuckPayment) -> None:
    idle = str(payment.idle_for).split(".")[0]
    console.print(
        f"[bold]{payment.workflow_id}[/]  {payment.status or '?'}  "
        f"{payment.amount_minor or '-'} {payment.currency or ''}  via {payment.gateway or '-'}"
        f"  idle {idle} (since {payment.last_progress_at:%Y-%m-%d %H:%M:%S} UTC)"
    )
    console.print(f"  why: {payment.reason.summary}")
    if payment.reason.next_attempt_at:
        console.print(f"  next attempt: {payment.reason.next_attempt_at:%H:%M:%S} UTC")
    if payment.web_ui_url:
        console.print(f"  web UI: {payment.web_ui_url}")


def _ui_base(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.temporal_ui_port}"


async def _act(client: Client, found: list[StuckPayment], retry: bool) -> list[str]:
    results = []
    with Progress(console=console) as progress:
        task = progress.add_task("retrying" if retry else "canceling", total=len(found))
        for payment in found:
            try:
                done = await (retry_now if retry else cancel_payment)(client, payment)
            except Exception as exc:  # report per payment and go on with the rest
                done = f"failed: {type(exc).__name__}: {exc}"
            results.append(f"{payment.workflow_id}: {done}")
            progress.advance(task)
    return results


@friendly_errors
def stuck(
    older_than: str = typer.Option("15m", help="Idle for at least this long: 30s, 15m, 2h"),
    merchant: str | None = typer.Option(None, help="Only this merchant's payments"),
    retry: bool = typer.Option(False, "--retry", help="Retry the failing activity now"),
    cancel: bool = typer.Option(
        False,
        "--cancel",
        help=(
            "Cancel the listed payments' workflows (Temporal cancellation): each finishes"
            " its step in flight, then voids its ledger hold and authorization; a"
            " payment already captured keeps its money"
        ),
    ),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation"),
) -> None:
    """Payments that have not progressed for --older-than, each with the reason."""
    if retry and cancel:
        raise ValidationError("choose one of --retry and --cancel", field="--retry")
    threshold = parse_duration(older_than)
    settings = load_settings()

    async def main() -> None:
        from paysaga.config.temporal import connect_client

        client = await connect_client(settings)
        found = await find_stuck(
            client, older_than=threshold, ui_base=_ui_base(settings), merchant_id=merchant
        )
        if not found:
            console.print(f"[green]no payment has been idle for more than {older_than}[/]")
            return
        console.print(f"[yellow]{len(found)} stuck payment(s)[/]")
        for payment in found:
            render(payment)
        if not (retry or cancel):
            return
        action = "retry" if retry else "cancel"
        if not yes and not typer.confirm(f"{action} these {len(found)} payment(s)?"):
            console.print("nothing done")
            return
        for line in await _act(client, found, retry):
            console.print(line)

    asyncio.run(main())
