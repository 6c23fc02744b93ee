"""What the Stripe and Braintree sandboxes hold survives a restart of the stack.

A real gateway never forgets a charge. If the sandboxes did, `paysaga down` followed by
`paysaga demo` would reconcile the day's earlier ledger postings against gateways that
have never heard of them (missing_at_gateway). The sandbox process writes its gateway
state to a file under the data dir when it stops and reads it back when it starts.
Plaid is left out: its items are only needed while onboarding is in flight.
"""

from __future__ import annotations

import io
import os
import pickle
import threading
from pathlib import Path
from typing import Any, Final

import structlog
from starlette.applications import Starlette

log = structlog.get_logger()

# Per sandbox: the attributes of its app.state.sandbox that a real gateway would keep.
PERSISTED: Final[dict[str, tuple[str, ...]]] = {
    "stripe": ("state", "_idempotency"),
    "braintree": ("store", "_idempotency"),
}
# A class a state file names (module, name when written) -> where it lives now. Files
# written before the Stripe and Braintree sandboxes became packages name flat modules.
MOVED: Final[dict[tuple[str, str], tuple[str, str]]] = {
    (package + old, old_name): ("paysaga.sandbox." + new, new_name)
    # State files from before the paysaga package name the top-level `sandbox` package.
    for package in ("paysaga.sandbox.", "sandbox.")
    for old, old_name, new, new_name in (
        ("stripe_state", "StripeState", "stripe.state", "StripeState"),
        ("stripe_state", "Stats", "stripe.state", "Stats"),
        ("stripe_state", "Tamper", "stripe.state", "Tamper"),
        ("stripe_server", "_Stored", "stripe.idempotency", "Stored"),
        ("braintree_state", "BraintreeStore", "braintree.state", "BraintreeStore"),
        ("braintree_state", "Txn", "braintree.model", "Txn"),
        ("braintree_state", "Card", "braintree.model", "Card"),
        ("braintree_server", "_Stored", "braintree.idempotency", "Stored"),
        ("braintree_server", "Result", "braintree.render", "Result"),
        ("braintree_xml", "Array", "braintree.xml_codec", "Array"),
        ("braintree_xml", "Collection", "braintree.xml_codec", "Collection"),
    )
}
_LOCK_TYPES: Final = {
    type(threading.Lock()): threading.Lock,
    type(threading.RLock()): threading.RLock,
}


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        # A lock is pickled as a new, unlocked lock of the same kind.
        factory = _LOCK_TYPES.get(type(obj))
        return (factory, ()) if factory else NotImplemented


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module, name = MOVED.get((module, name), (module, name))
        return super().find_class(module, name)


def save(apps: dict[str, Starlette], path: Path) -> None:
    snapshot = {
        name: {attr: getattr(apps[name].state.sandbox, attr) for attr in attrs}
        for name, attrs in PERSISTED.items()
        if name in apps
    }
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(snapshot)
    partial = path.with_suffix(".partial")
    partial.write_bytes(buffer.getvalue())
    os.replace(partial, path)  # never a half-written file
    log.info("sandbox_state_saved", path=str(path))


def load(apps: dict[str, Starlette], path: Path) -> None:
    if not path.exists():
        return
    try:
        # Our own file, written by save() under the stack's private data dir.
        snapshot: dict[str, dict[str, Any]] = _Unpickler(io.BytesIO(path.read_bytes())).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        log.warning("sandbox_state_unreadable", path=str(path), error=type(exc).__name__)
        return
    for name, values in snapshot.items():
        if name in apps:
            for attr, value in values.items():
                setattr(apps[name].state.sandbox, attr, value)
    log.info("sandbox_state_loaded", path=str(path))
