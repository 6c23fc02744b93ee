"""`python -m paysaga.cli` is the same as the `paysaga` command."""

from paysaga.cli.main import run

run()
