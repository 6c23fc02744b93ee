"""An opt-in idempotency header for focused tests: the real Braintree gateway has none.

Braintree's API defines no idempotency key: the official SDK sends only Accept,
Authorization, Content-Type, User-Agent, X-ApiVersion and Accept-Encoding
(braintree_python `braintree/util/http.py`, `Http.__headers`), and the transaction
API reference has no such parameter
(https://developer.paypal.com/braintree/docs/reference/request/transaction/sale/python).
So by default the sandbox ignores `X-Idempotency-Key`: a sale sent twice is two
sales. Only with `braintree_idempotency_header` in the fault config does it replay:
same key + same request replays the stored response, same key + different request
is a 422 with error code IDEMPOTENCY_MISMATCH_CODE. The store is pickled across
restarts (`persistence`): keep `Stored`'s fields.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from paysaga.sandbox.braintree.errors import ApiError
from paysaga.sandbox.braintree.render import Result, error_result

IDEMPOTENCY_HEADER = "X-Idempotency-Key"
IDEMPOTENCY_MISMATCH_CODE = "93199"


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    result: Result


def execute(
    store: dict[str, Stored],
    lock: threading.Lock,
    counters: dict[str, int],
    request: Request,
    raw: bytes,
    key: str | None,
    run: Callable[[], Result],
) -> Result:
    """`run`'s result, or the one stored under `key` for the same request."""
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + raw
    ).hexdigest()
    if key is not None:
        with lock:
            stored = store.get(key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return error_result(
                        ApiError(
                            "Idempotency key was already used with different parameters.",
                            code=IDEMPOTENCY_MISMATCH_CODE,
                            attribute="idempotency_key",
                        )
                    )
                counters["idempotent_replays"] += 1
                return stored.result
    result = run()  # outside the lock: concurrent duplicates both run, the first answer stays
    if key is not None and result.status < 500:
        with lock:
            # First writer wins: a concurrent duplicate keeps the stored answer.
            store.setdefault(key, Stored(fingerprint, result))
            result = store[key].result
    return result
