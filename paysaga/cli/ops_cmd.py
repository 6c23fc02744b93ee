"""`paysaga merchants create` and `paysaga workers`: operator commands."""

from __future__ import annotations

import asyncio

import typer
from rich.table import Table

from paysaga.cli.console import console, friendly_errors
from paysaga.client.control.db import control_engine
from paysaga.client.control.merchants import IssuedKey, MerchantStore
from paysaga.client.workers import Poller, list_pollers
from paysaga.config.settings import load_settings

merchants_app = typer.Typer(help="Merchants and their API keys.", no_args_is_help=True)


async def _create(name: str) -> IssuedKey:
    engine = control_engine(load_settings().shard_urls()[0], pool_size=1)
    try:
        return await MerchantStore(engine).create_merchant(name)
    finally:
        await engine.dispose()


@merchants_app.command("create")
@friendly_errors
def create_merchant(name: str = typer.Argument(..., help="Display name")) -> None:
    """Create a merchant and print its first API key (shown once, stored hashed)."""
    issued = asyncio.run(_create(name))
    console.print(f"merchant [bold]{issued.merchant_id}[/]")
    console.print(f"API key (shown once, keep it secret): [bold]{issued.api_key}[/]")


async def _pollers() -> list[Poller]:
    from paysaga.config.temporal import connect_client

    return await list_pollers(await connect_client(load_settings()))


@friendly_errors
def workers() -> None:
    """Which worker processes poll which task queue (DescribeTaskQueue)."""
    pollers = asyncio.run(_pollers())
    table = Table(title="workers polling")
    for column in ("task queue", "kind", "worker identity", "last poll"):
        table.add_column(column)
    for poller in pollers:
        seen = poller.last_access_at.strftime("%H:%M:%S") if poller.last_access_at else "-"
        table.add_row(poller.task_queue, poller.kind, poller.identity, seen)
    console.print(table if pollers else "[yellow]no worker is polling any paysaga queue[/]")
