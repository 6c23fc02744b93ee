"""`paysaga ledger ...`: verify every shard, show an account's balances."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
import typer
from rich.table import Table

from ledger.service import Ledger
from ledger.types import Balances, VerifyReport
from paysaga.cli.console import console, err_console, friendly_errors
from paysaga.config.settings import get_settings
from paysaga.domain.errors import ConfigurationError

ledger_app = typer.Typer(help="Operate the ledger: verify invariants, show balances.")

T = TypeVar("T")


def _run(work: Callable[[Ledger], Awaitable[T]]) -> T:
    dsns = get_settings().shard_urls()

    async def main() -> T:
        try:
            async with Ledger(dsns, pool_min=1, pool_max=2) as ledger:
                return await work(ledger)
        except psycopg.errors.UndefinedTable:
            raise ConfigurationError(
                "a ledger shard has no ledger schema; run `paysaga migrate` "
                "(shards come from PAYSAGA_DATABASE_URLS)",
                field="PAYSAGA_DATABASE_URLS",
            ) from None
        except psycopg.errors.UndefinedFunction:
            raise ConfigurationError(
                "a ledger shard is not migrated; run `paysaga migrate` (PAYSAGA_DATABASE_URLS)",
                field="PAYSAGA_DATABASE_URLS",
            ) from None

    return asyncio.run(main())


@ledger_app.command()
@friendly_errors
def verify() -> None:
    """Check every shard: balanced entries, balances = sums, pendings, hash chain."""
    report: VerifyReport = _run(lambda ledger: ledger.verify())
    if report.ok:
        console.print(
            f"[green]ok[/]: {report.shards} shard(s), {report.entries} entries, "
            f"{report.accounts} accounts: balanced, balances match entries, chain intact"
        )
        return
    table = Table("shard", "check", "subject", "detail", title="ledger violations")
    for violation in report.violations:
        table.add_row(str(violation.shard), violation.check, violation.subject, violation.detail)
    err_console.print(table)
    err_console.print(f"[bold red]first violation[/]: {report.first}")
    raise typer.Exit(1)


@ledger_app.command()
@friendly_errors
def balance(account: str = typer.Argument(..., help="Account id, e.g. merchant:m_1:USD")) -> None:
    """Posted, pending and available balances of one account (hot stripes summed)."""
    b: Balances = _run(lambda ledger: ledger.get_balances(account))
    table = Table("account", "currency", "posted", "pending", "available", "version")
    table.add_row(
        b.account_id, b.currency, str(b.posted), str(b.pending), str(b.available), str(b.version)
    )
    console.print(table)
