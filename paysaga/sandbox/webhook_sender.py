"""Background webhook delivery for the sandboxes, honouring the injected faults.

`send` never blocks the API response: deliveries go to a worker thread that
POSTs them when due. The FaultConfig decides how badly: `webhook_delay_s` holds
every delivery, `webhook_duplicate_rate` delivers the same event (same id) twice
and `webhook_reorder_rate` holds one back long enough for later events to
overtake it. Signatures are usually time-stamped, so callers may pass a `sign`
callback that computes headers at delivery time rather than at enqueue time.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx
import structlog

from paysaga.sandbox.faults import FaultInjector

log = structlog.get_logger()

Signer = Callable[[bytes], Mapping[str, str]]

# How long a "reordered" delivery is held back beyond the normal delay.
REORDER_HOLD_S = 0.5
# Gap between the two copies of a duplicated delivery.
DUPLICATE_GAP_S = 0.05
MAX_ATTEMPTS = 3


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    headers: dict[str, str] = field(compare=False)
    event_id: str = field(compare=False)
    sign: Signer | None = field(compare=False, default=None)
    attempt: int = field(compare=False, default=1)


@dataclass(frozen=True)
class DeliveryRecord:
    event_id: str
    url: str
    status: int | None  # None: connection failed
    at: float


class WebhookSender:
    """One per sandbox app; thread-safe; start lazily on first send."""

    def __init__(self, injector: FaultInjector, *, timeout_s: float = 5.0) -> None:
        self._injector = injector
        self._timeout_s = timeout_s
        self._heap: list[_Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._in_flight = 0
        self.records: list[DeliveryRecord] = []

    def send(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        event_id: str,
        *,
        sign: Signer | None = None,
    ) -> None:
        """Queue one event; returns at once. `sign(body)` adds headers when delivered."""
        config = self._injector.config
        now = time.monotonic()
        due = now + config.webhook_delay_s
        if self._injector.chance(config.webhook_reorder_rate):
            due += max(REORDER_HOLD_S, config.webhook_delay_s)
        copies = 2 if self._injector.chance(config.webhook_duplicate_rate) else 1
        with self._cond:
            if self._stopped:
                return
            for copy in range(copies):
                heapq.heappush(
                    self._heap,
                    _Delivery(
                        due + copy * DUPLICATE_GAP_S,
                        next(self._seq),
                        url,
                        body,
                        dict(headers),
                        event_id,
                        sign,
                    ),
                )
            self._ensure_thread()
            self._cond.notify_all()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued delivery was attempted; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._heap or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout_s + 1)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
            self._thread.start()

    def _next_due(self) -> _Delivery | None:
        with self._cond:
            while not self._stopped:
                if self._heap:
                    wait = self._heap[0].due - time.monotonic()
                    if wait <= 0:
                        self._in_flight += 1
                        return heapq.heappop(self._heap)
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout_s) as client:
            while (delivery := self._next_due()) is not None:
                try:
                    self._deliver(client, delivery)
                finally:
                    with self._cond:
                        self._in_flight -= 1
                        self._cond.notify_all()

    def _deliver(self, client: httpx.Client, delivery: _Delivery) -> None:
        headers = {"Content-Type": "application/json", **delivery.headers}
        if delivery.sign is not None:
            headers.update(delivery.sign(delivery.body))
        status: int | None = None
        try:
            status = client.post(delivery.url, content=delivery.body, headers=headers).status_code
        except httpx.HTTPError as exc:
            log.warning(
                "webhook_delivery_failed", event_id=delivery.event_id, error=type(exc).__name__
            )
        with self._cond:
            self.records.append(
                DeliveryRecord(delivery.event_id, delivery.url, status, time.time())
            )
        if (status is None or status >= 500) and delivery.attempt < MAX_ATTEMPTS:
            # Providers retry failed deliveries with backoff; so do we, briefly.
            retry = _Delivery(
                time.monotonic() + 0.2 * 2**delivery.attempt,
                next(self._seq),
                delivery.url,
                delivery.body,
                delivery.headers,
                delivery.event_id,
                delivery.sign,
                delivery.attempt + 1,
            )
            with self._cond:
                if not self._stopped:
                    heapq.heappush(self._heap, retry)
                    self._cond.notify_all()
        else:
            log.debug("webhook_delivered", event_id=delivery.event_id, status=status)
