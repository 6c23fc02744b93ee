"""Shared rich console and the one place that turns our errors into CLI messages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from paysaga.domain.errors import ConfigurationError, PaysagaError

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")


def print_configuration_error(exc: ConfigurationError) -> None:
    """One message naming every bad setting, a line each (never wrapped mid-line)."""
    err_console.print(f"[bold red]configuration error[/]: {escape(exc.message)}", soft_wrap=True)


R = TypeVar("R")


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print one clear line naming the bad setting or field, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigurationError as exc:
            print_configuration_error(exc)
            raise typer.Exit(2) from None
        except PaysagaError as exc:
            where = f" (field: {exc.field})" if exc.field else ""
            err_console.print(f"[bold red]{exc.code}[/]: {exc.message}{where}")
            raise typer.Exit(1) from None

    return wrapper
