"""`python -m cli` is the same as the `paysaga` command."""

from cli.main import run

run()
