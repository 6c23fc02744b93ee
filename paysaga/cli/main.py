"""Entry point of the `paysaga` command; sub-commands live in their own modules."""

from __future__ import annotations

import os
import sys

import typer

from paysaga.cli.console import print_configuration_error
from paysaga.config.logging import configure_logging
from paysaga.config.settings import load_settings
from paysaga.domain.errors import ConfigurationError

app = typer.Typer(
    name="paysaga",
    help="Durable payment engine: run the stack, make payments, operate the ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


# `paysaga keys generate` makes the key a broken configuration may be missing, so the
# group checks settings per command (its other commands load them first thing).
COMMANDS_WITHOUT_SETTINGS = frozenset({"keys"})


@app.callback()
def main(ctx: typer.Context) -> None:
    """paysaga: payments as durable sagas on Temporal with a double-entry ledger."""
    # The CLI's own output is rich text; its structured logs stay quiet unless asked for.
    configure_logging(
        os.environ.get("PAYSAGA_LOG_FORMAT", "auto"),
        os.environ.get("PAYSAGA_LOG_LEVEL", "WARNING"),
    )
    if ctx.invoked_subcommand not in COMMANDS_WITHOUT_SETTINGS:
        # Fail closed before any command connects to anything (PAYSAGA_ENV=production
        # refuses missing, weak or development secrets, naming each one).
        _check_settings()


def _check_settings() -> None:
    try:
        load_settings()
    except ConfigurationError as exc:
        print_configuration_error(exc)
        raise typer.Exit(2) from None


# Sub-commands are registered below, one line each (app.add_typer / app.command).
from paysaga.cli.stack_cmd import down, migrate, up  # noqa: E402

app.command(help="Start the whole stack on loopback (Ctrl-C stops it).")(up)
app.command(help="Stop a stack left running in the background.")(down)
app.command(help="Migrate every shard and register search attributes.")(migrate)
from paysaga.cli.keys_cmd import keys_app  # noqa: E402

app.add_typer(keys_app, name="keys")
from paysaga.cli.ledger_cmd import ledger_app  # noqa: E402

app.add_typer(ledger_app, name="ledger")
from paysaga.cli.demo import demo  # noqa: E402

app.command(help="Run the end-to-end demo on the embedded stack.")(demo)
from paysaga.cli.bank_cmd import bank_accounts_app, onboard, onboard_complete  # noqa: E402
from paysaga.cli.ops_cmd import merchants_app, workers  # noqa: E402
from paysaga.cli.payments_cmd import cancel, capture, pay, payments, reconcile, refund, status  # noqa: E402
from paysaga.cli.stuck_cmd import stuck  # noqa: E402
from paysaga.cli.sweep_cmd import sweep  # noqa: E402

app.add_typer(merchants_app, name="merchants")
app.add_typer(bank_accounts_app, name="bank-accounts")
app.command(help="Onboard a bank account through Plaid (--sandbox: end to end).")(onboard)
app.command("onboard-complete", help="Hand over Plaid Link's public token.")(onboard_complete)
app.command(help="Which workers poll which task queue.")(workers)
app.command(help="Start a payment.")(pay)
app.command(help="Capture an authorized payment.")(capture)
app.command(help="Cancel a payment that is not captured.")(cancel)
app.command(help="Refund a captured payment.")(refund)
app.command(help="A payment's live state as a timeline.")(status)
app.command(help="List payments (filter by status, customer).")(payments)
app.command(help="Reconcile one day against the gateways.")(reconcile)
app.command(help="Payments that stopped progressing, and why.")(stuck)
app.command(help="Find and resolve gateway charges and ledger holds nothing owns.")(sweep)


def run() -> None:
    """The console script: the typer app, then an exit that skips finalization (see
    config.temporal.exit_skipping_finalization: the Temporal SDK can abort it)."""
    from paysaga.config.temporal import exit_skipping_finalization

    try:
        app()
        code = 0
    except ConfigurationError as exc:  # a command that loads settings without friendly_errors
        print_configuration_error(exc)
        code = 2
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:  # sys.exit("message"): print it as the interpreter would
            print(exc.code, file=sys.stderr)
            code = 1
    exit_skipping_finalization(code)
