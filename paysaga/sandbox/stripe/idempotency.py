"""Stripe's Idempotency-Key semantics for POST requests.

The first request under a key runs and its answer is stored, 4xx errors included;
the same key with the same method, path and parameters replays that answer, with
anything else it is a 400 `idempotency_error`. A 5xx is not stored, so a retry runs
again. The store is pickled across restarts (`persistence`): keep `Stored`'s fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paysaga.sandbox.stripe.errors import Obj, StripeApiError, invalid
from paysaga.sandbox.stripe.form import FormError
from paysaga.sandbox.stripe.state import StripeState


@dataclass(frozen=True)
class Stored:
    method: str
    path: str
    params: str  # canonical JSON of the parameters
    status: int
    body: Obj


def execute(
    state: StripeState,
    store: dict[str, Stored],
    key: str | None,
    *,
    method: str,
    path: str,
    params: dict[str, Any],
    run: Callable[[], Obj],
) -> tuple[int, Obj, bool]:
    """(status, body, replayed): `run`'s answer, or the one stored under `key`."""
    canonical = json.dumps({k: v for k, v in params.items() if k != "expand"}, sort_keys=True)
    # One lock for the check, the operation and the store: a concurrent duplicate waits.
    with state.lock:
        if key:
            stored = store.get(key)
            if stored is not None:
                if (stored.method, stored.path, stored.params) != (method, path, canonical):
                    raise StripeApiError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                    )
                state.stats.idempotent_replays += 1
                return stored.status, stored.body, True
        try:
            status, body = 200, run()
        except FormError as exc:
            status, body = 400, invalid(str(exc), param=exc.param).body()
        except StripeApiError as exc:
            if exc.status >= 500:
                raise
            status, body = exc.status, exc.body()
        if key:
            store[key] = Stored(method, path, canonical, status, body)
        return status, body, False
