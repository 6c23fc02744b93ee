"""Pure domain types shared by every layer: money, errors, payloads, names.

Nothing here does I/O or imports another paysaga package, so workflows may import it.
"""
