"""`paysaga sweep`: run one sweep now (money and holds nothing owns) and print its findings."""

from __future__ import annotations

import asyncio

import typer

from paysaga.cli.console import console, friendly_errors
from paysaga.cli.stuck_cmd import parse_duration
from paysaga.config.settings import load_settings
from paysaga.domain.sweep import Finding, SweepReport, SweepRequest


def render(report: SweepReport) -> None:
    console.print(
        f"[bold]{report.sweep_id}[/]  window {report.window_start:%Y-%m-%d %H:%M} to "
        f"{report.window_end:%Y-%m-%d %H:%M} UTC, {report.examined} examined"
        + ("  (dry run)" if report.dry_run else "")
    )
    for reason, count in sorted(report.counts.items()):
        console.print(f"  {reason}: {count}")
    for found in report.findings:
        console.print(_line(found))
    left = len(report.unresolved)
    console.print(f"[red]{left} unresolved[/]" if left else "[green]nothing left unresolved[/]")


def _line(found: Finding) -> str:
    mark = "[green]resolved[/]" if found.resolved else f"[yellow]{found.action}[/]"
    return (
        f"  {found.kind} {found.gateway or '-'} {found.reference}  {found.amount_minor} "
        f"{found.currency}  {found.reason}  {mark}  payment {found.payment_id or '-'}"
        f"  {found.detail}"
    )


@friendly_errors
def sweep(
    lag: str = typer.Option("10m", help="Skip objects younger than this: 10m, 1h"),
    lookback: str = typer.Option("1d", help="How far back to list gateway charges"),
    hold_age: str = typer.Option("1h", help="Void stranded holds older than this"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only, resolve nothing"),
) -> None:
    """Find gateway charges and ledger holds no live payment owns; void or refund them."""
    request = SweepRequest(
        lag_s=int(parse_duration(lag, "--lag").total_seconds()),
        lookback_s=int(parse_duration(lookback, "--lookback").total_seconds()),
        hold_age_s=int(parse_duration(hold_age, "--hold-age").total_seconds()),
        dry_run=dry_run,
    )
    settings = load_settings()

    async def main() -> SweepReport:
        from paysaga.client.starts import run_sweep
        from paysaga.config.temporal import connect_client

        return await run_sweep(await connect_client(settings), request)

    render(asyncio.run(main()))
