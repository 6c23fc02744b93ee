"""Search visibility lag: a new object is found by search only some time after it exists.

Stripe documents that Search is not read-after-write consistent (data is searchable
"in under 1 minute", later during outages); Braintree gives no read-after-write
guarantee for its search either. Retrieve by id stays consistent on both. The lag of
one object is the configured lag plus a share of the jitter fixed by its id, so a
lag stays put for an object however often it is searched, and the fault dice are
not used up (seeded runs keep their other faults).

The server sets the lag for one request (`lagging`); the search code asks
`searchable` with the object's id and creation time (None: an object from before
the lag was recorded, e.g. a state file from an older sandbox, is visible).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from paysaga.sandbox.faults import FaultConfig


@dataclass(frozen=True)
class SearchLag:
    base_s: float = 0.0
    jitter_s: float = 0.0

    @classmethod
    def of(cls, config: FaultConfig, default_s: float) -> SearchLag:
        base = default_s if config.search_lag_s is None else config.search_lag_s
        return cls(base, config.search_lag_jitter_s)

    def lag_of(self, ident: str) -> float:
        share = int.from_bytes(hashlib.sha256(ident.encode()).digest()[:4]) / 2**32
        return self.base_s + self.jitter_s * share


_NO_LAG = SearchLag()
_current: ContextVar[SearchLag | None] = ContextVar("sandbox_search_lag", default=None)


@contextlib.contextmanager
def lagging(lag: SearchLag) -> Iterator[None]:
    token = _current.set(lag)
    try:
        yield
    finally:
        _current.reset(token)


def searchable(ident: str, created: float | None, now: float | None = None) -> bool:
    if created is None:
        return True
    lag = _current.get() or _NO_LAG
    if not lag.base_s and not lag.jitter_s:
        return True
    return (time.time() if now is None else now) >= created + lag.lag_of(ident)
