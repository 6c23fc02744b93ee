"""Run-time fault injection shared by the three sandboxes.

Configured from the environment (PAYSAGA_SANDBOX_FAULTS as JSON) at start and at
run time through each sandbox's `POST /__sandbox/faults` control endpoint. Which
real provider behaviour each fault imitates, and where it is documented:
paysaga/sandbox/README.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any, Literal

# What a mutating request does, for the faults that hit only one kind of operation.
OpKind = Literal["capture", "refund"] | None


class Fault(StrEnum):
    NONE = "none"
    SERVER_ERROR = "server_error"  # 500 before any side effect
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After, before any side effect
    TIMEOUT_AFTER_SUCCESS = "timeout_after_success"  # side effect done, response withheld
    # The client times out first; the side effect happens after, and shows up later.
    LATE_SUCCESS = "late_success"
    # Side effect done, then a 200 whose body lacks a field or has one of another type.
    MALFORMED_RESPONSE = "malformed_response"
    # Captures only: captured, response withheld.
    CAPTURE_TIMEOUT_AFTER_SUCCESS = "capture_timeout_after_success"
    # Refunds only: the refund is accepted pending and fails `refund_fail_after_s` later.
    REFUND_PENDING_THEN_FAILED = "refund_pending_then_failed"


# Faults whose side effect happened while the client got no answer it can read.
WITHHELD = frozenset({Fault.TIMEOUT_AFTER_SUCCESS, Fault.CAPTURE_TIMEOUT_AFTER_SUCCESS})


@dataclass
class FaultConfig:
    latency_ms: int = 0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after_s: float = 1.0
    timeout_after_success_rate: float = 0.0
    # How long a withheld response hangs before the connection is dropped; clients
    # with a shorter timeout see a timeout after the request was sent.
    timeout_hang_s: float = 30.0
    # Webhooks: where to deliver, and how badly.
    webhook_url: str | None = None
    webhook_delay_s: float = 0.0
    webhook_duplicate_rate: float = 0.0
    webhook_reorder_rate: float = 0.0
    late_success_rate: float = 0.0
    malformed_response_rate: float = 0.0
    capture_timeout_after_success_rate: float = 0.0
    refund_pending_then_failed_rate: float = 0.0
    refund_fail_after_s: float = 5.0  # how long a failing refund stays pending
    # Search visibility lag: a new object is searchable only this long after it was
    # created (None: the sandbox settings' `search_lag_s`), plus up to `jitter` more,
    # spread per object. Retrieve by id is never lagged.
    search_lag_s: float | None = None
    search_lag_jitter_s: float = 0.0
    # Opt-in, for focused tests only: the Braintree sandbox replays responses by
    # X-Idempotency-Key. The real Braintree API has no such header.
    braintree_idempotency_header: bool = False
    seed: int | None = None

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> FaultConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        config = cls(**data)
        for name in (
            "error_rate",
            "rate_limit_rate",
            "timeout_after_success_rate",
            "webhook_duplicate_rate",
            "webhook_reorder_rate",
            *_OPERATION_RATES,
        ):
            value = getattr(config, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number between 0 and 1")
        for name in ("search_lag_jitter_s", "refund_fail_after_s"):
            if getattr(config, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if config.search_lag_s is not None and config.search_lag_s < 0:
            raise ValueError("search_lag_s must not be negative")
        return config

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    """Thread-safe holder of the current config and the dice that apply it."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = config or FaultConfig()
        self._random = random.Random(self._config.seed)
        self.counts: dict[str, int] = {fault.value: 0 for fault in Fault}

    @classmethod
    def from_env(cls, variable: str = "PAYSAGA_SANDBOX_FAULTS") -> FaultInjector:
        raw = os.environ.get(variable, "").strip()
        return cls(FaultConfig.from_mapping(json.loads(raw)) if raw else None)

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return self._config

    def configure(self, data: dict[str, Any]) -> FaultConfig:
        config = FaultConfig.from_mapping(data)
        with self._lock:
            self._config = config
            self._random = random.Random(config.seed)
        return config

    def reset(self) -> None:
        self.configure({})

    def roll(self, mutating: bool, kind: OpKind = None) -> Fault:
        """Pick the fault for one request. Reads are never failed after success.

        One die per request, its range cut into the configured rates in a fixed
        order, so a seed with the new rates at 0 picks what it picked before.
        """
        with self._lock:
            config, dice = self._config, self._random.random()
            fault = Fault.NONE
            for candidate, rate in _bands(config, mutating, kind):
                if dice < rate:
                    fault = candidate
                    break
                dice -= rate
            self.counts[fault.value] += 1
            return fault

    def pick(self, choices: int) -> int:
        """A seeded index below `choices` (which field a malformed response breaks)."""
        with self._lock:
            return self._random.randrange(choices)

    def chance(self, rate: float) -> bool:
        with self._lock:
            return self._random.random() < rate


_OPERATION_RATES = (
    "late_success_rate",
    "malformed_response_rate",
    "capture_timeout_after_success_rate",
    "refund_pending_then_failed_rate",
)


def _bands(config: FaultConfig, mutating: bool, kind: OpKind) -> list[tuple[Fault, float]]:
    bands = [(Fault.SERVER_ERROR, config.error_rate), (Fault.RATE_LIMITED, config.rate_limit_rate)]
    if mutating:
        bands += [
            (Fault.TIMEOUT_AFTER_SUCCESS, config.timeout_after_success_rate),
            (Fault.LATE_SUCCESS, config.late_success_rate),
            (Fault.MALFORMED_RESPONSE, config.malformed_response_rate),
        ]
    if kind == "capture":
        bands.append(
            (Fault.CAPTURE_TIMEOUT_AFTER_SUCCESS, config.capture_timeout_after_success_rate)
        )
    if kind == "refund":
        bands.append((Fault.REFUND_PENDING_THEN_FAILED, config.refund_pending_then_failed_rate))
    return bands


async def add_latency(config: FaultConfig) -> None:
    """The configured latency: the first thing every API request does."""
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)


async def hang(config: FaultConfig) -> None:
    """Hold a "timeout after success" answer longer than the client waits."""
    await asyncio.sleep(config.timeout_hang_s)
