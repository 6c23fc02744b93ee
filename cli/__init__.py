"""The `paysaga` command."""
