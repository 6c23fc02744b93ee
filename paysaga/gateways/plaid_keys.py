"""Plaid webhook verification keys by `kid`: a cache, a negative cache and a throttle.

Anyone can POST a webhook whose JWT names a made-up `kid`, and each unknown kid
means an authenticated call to Plaid's /webhook_verification_key/get. So:

- a key Plaid returned is kept; while its `expired_at` is null it is re-read every
  `refresh_s` (Plaid sets `expired_at` when it rotates the key out; a key past its
  `expired_at` must not verify anything:
  https://plaid.com/docs/api/webhooks/webhook-verification/). A key that has an
  `expired_at` is kept as is, so webhooks naming it are refused without a call;
- a kid Plaid says it does not know is remembered for `negative_ttl_s` (bounded LRU);
- lookups leaving this process are throttled (a token bucket shared by all kids) and
  single-flight per kid: concurrent webhooks naming the same kid share one lookup.

When Plaid cannot answer (unreachable, timeout, 5xx, 429, our credentials refused)
or the throttle is empty, `KeyUnavailable` is raised: the caller answers 503 and
Plaid delivers the webhook again (it retries non-200 answers for up to 24 hours,
https://plaid.com/docs/api/webhooks/#webhook-retries). Only Plaid's "no such key"
makes a kid unknown (`KeyNotFound`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from paysaga.domain.errors import PaysagaError
from paysaga.gateways.errors import GatewayError, InvalidRequest
from paysaga.security.api_keys import RateLimiter

log = structlog.get_logger(__name__)

KeyFetcher = Callable[[str], Mapping[str, Any]]

# Plaid uses one key at a time and rotates rarely: a burst of 10 lookups, then one
# every 6 seconds, is ample for real kids and caps what random kids can cost.
FETCH_BURST = 10
FETCHES_PER_MINUTE = 10
NEGATIVE_TTL_S = 300.0
REFRESH_S = 3600.0
MAX_UNKNOWN_KIDS = 10_000
# A webhook waiting on another's lookup of the same kid waits at most this long
# (longer than PlaidClient's connect + read timeouts).
FLIGHT_WAIT_S = 20.0
_BUCKET = "plaid-webhook-keys"


class KeyNotFound(Exception):
    """Plaid does not know this kid (or did not, less than `negative_ttl_s` ago)."""


class KeyUnavailable(PaysagaError):
    """The key could not be had now (Plaid down, or lookups throttled): retry later."""

    code = "webhook_key_unavailable"
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class _Known:
    jwk: Mapping[str, Any]
    refresh_at: float | None  # monotonic; None: expired_at is set, nothing left to learn


@dataclass
class _Flight:
    done: threading.Event = field(default_factory=threading.Event)
    jwk: Mapping[str, Any] | None = None
    error: Exception | None = None


class PlaidKeyCache:
    def __init__(
        self,
        fetch: KeyFetcher,
        *,
        burst: int = FETCH_BURST,
        per_minute: float = FETCHES_PER_MINUTE,
        negative_ttl_s: float = NEGATIVE_TTL_S,
        refresh_s: float = REFRESH_S,
        max_unknown: int = MAX_UNKNOWN_KIDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._bucket = RateLimiter(burst, per_minute / 60, max_clients=1, clock=clock)
        self._negative_ttl_s = negative_ttl_s
        self._refresh_s = refresh_s
        self._max_unknown = max_unknown
        self._clock = clock
        self._known: dict[str, _Known] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()  # kid -> monotonic expiry
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()

    def get(self, kid: str) -> Mapping[str, Any]:
        """The JWK for `kid`; KeyNotFound or KeyUnavailable otherwise."""
        with self._lock:
            now = self._clock()
            known = self._known.get(kid)
            if known is not None and (known.refresh_at is None or now < known.refresh_at):
                return known.jwk
            until = self._unknown.get(kid)
            if until is not None:
                if now < until:
                    raise KeyNotFound(kid)
                del self._unknown[kid]
            flight = self._flights.get(kid)
            leader = flight is None
            if flight is None:
                flight = self._flights[kid] = _Flight()
        if not leader:
            return self._follow(flight)
        try:
            jwk = self._lookup(kid, known)
            flight.jwk = jwk
            return jwk
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[kid]
            flight.done.set()

    def _follow(self, flight: _Flight) -> Mapping[str, Any]:
        if not flight.done.wait(FLIGHT_WAIT_S):
            raise KeyUnavailable("verification key lookup still running", retry_after_s=30)
        if flight.error is not None:
            raise flight.error
        assert flight.jwk is not None
        return flight.jwk

    def _lookup(self, kid: str, stale: _Known | None) -> Mapping[str, Any]:
        if not self._bucket.allow(_BUCKET):
            wait = self._bucket.retry_after(_BUCKET)
            if stale is not None:  # a refresh can wait; the key we hold still verifies
                return stale.jwk
            log.warning("plaid.webhook_key.throttled", retry_after_s=round(wait, 1))
            raise KeyUnavailable("verification key lookups are throttled", retry_after_s=wait)
        try:
            jwk = self._fetch(kid)
        except InvalidRequest as exc:  # Plaid answered: no such key
            with self._lock:
                self._known.pop(kid, None)
                self._unknown[kid] = self._clock() + self._negative_ttl_s
                while len(self._unknown) > self._max_unknown:
                    self._unknown.popitem(last=False)
            log.info("plaid.webhook_key.unknown", http_status=exc.http_status)
            raise KeyNotFound(kid) from exc
        except GatewayError as exc:  # down, 5xx, 429, timeout, our credentials refused
            log.warning("plaid.webhook_key.unavailable", error=type(exc).__name__)
            if stale is not None:
                return stale.jwk
            raise KeyUnavailable(
                "Plaid did not answer the verification key lookup", retry_after_s=30
            ) from exc
        refresh_at = None if jwk.get("expired_at") else self._clock() + self._refresh_s
        with self._lock:
            self._known[kid] = _Known(jwk, refresh_at)
        log.info("plaid.webhook_key.fetched", expired=refresh_at is None)
        return jwk
