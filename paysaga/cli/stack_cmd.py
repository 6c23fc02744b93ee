"""`paysaga up` and `paysaga down`: the embedded stack in the foreground or background."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer
from rich.table import Table

from paysaga.cli.console import console, friendly_errors
from paysaga.config.settings import load_settings
from paysaga.stack.stack import Stack, StackUrls, running_stack, stop_from_state


def print_urls(urls: StackUrls) -> None:
    table = Table(title="paysaga stack", show_header=False)
    table.add_column("service", style="bold")
    table.add_column("url")
    for name, url in urls.rows():
        table.add_row(name, url)
    console.print(table)


@friendly_errors
def up(
    detach: bool = typer.Option(False, "--detach", "-d", help="Leave the stack running."),
    workers: bool = typer.Option(True, help="Start the workers."),
    api: bool = typer.Option(True, help="Start the HTTP API."),
) -> None:
    """Start PostgreSQL, Temporal (Web UI), sandboxes, codec server, workers and API."""
    settings = load_settings()
    if running_stack(settings.data_dir):
        console.print("[yellow]a paysaga stack is already running; `paysaga down` stops it[/]")
        raise typer.Exit(1)
    stack = Stack(
        settings,
        with_workers=workers,
        with_api=api,
        progress=lambda m: console.print(f"[dim]… {m}[/]"),
    )
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    try:
        urls = stack.up()
        print_urls(urls)
        if detach:
            console.print("stack left running in the background; `paysaga down` stops it")
            return
        console.print("[green]stack is up[/]; press Ctrl-C to stop everything")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if not detach:
            # Ctrl-C during a child's start lands here too: nothing is left behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            stack.down()
            signal.signal(signal.SIGINT, signal.default_int_handler)
            console.print("[green]stopped[/]")


@friendly_errors
def down() -> None:
    """Stop a stack left running by `paysaga up --detach`."""
    settings = load_settings()
    if not stop_from_state(settings.data_dir, lambda m: console.print(f"[dim]… {m}[/]")):
        console.print("no paysaga stack is running")
        return
    console.print("[green]stopped[/]")


@friendly_errors
def migrate() -> None:
    """Apply the schema migrations on every shard and register search attributes."""
    import asyncio

    from ledger.migrate import upgrade_all
    from paysaga.config.temporal import connect_client
    from paysaga.stack.search_attributes import register_search_attributes

    settings = load_settings()
    upgrade_all(settings.shard_urls())
    console.print(f"[green]migrated[/] {len(settings.shard_urls())} shard(s)")

    async def _register() -> tuple[list[str], list[str]]:
        from paysaga.client.starts import ensure_schedules

        client = await connect_client(settings)
        added = await register_search_attributes(client, settings.temporal_namespace)
        return added, await ensure_schedules(client)

    added, schedules = asyncio.run(_register())
    console.print(f"search attributes registered: {', '.join(added) or 'already present'}")
    console.print(f"schedules: {', '.join(schedules)}")
