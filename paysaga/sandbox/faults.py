"""Run-time fault injection shared by the three sandboxes.

Configured from the environment (PAYSAGA_SANDBOX_FAULTS as JSON) at start and at
run time through each sandbox's `POST /__sandbox/faults` control endpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any


class Fault(StrEnum):
    NONE = "none"
    SERVER_ERROR = "server_error"  # 500 before any side effect
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After, before any side effect
    TIMEOUT_AFTER_SUCCESS = "timeout_after_success"  # side effect done, response withheld


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
        ):
            value = getattr(config, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number between 0 and 1")
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

    def roll(self, mutating: bool) -> Fault:
        """Pick the fault for one request. Reads are never failed after success."""
        with self._lock:
            config, dice = self._config, self._random.random()
            fault = Fault.NONE
            if dice < config.error_rate:
                fault = Fault.SERVER_ERROR
            elif dice < config.error_rate + config.rate_limit_rate:
                fault = Fault.RATE_LIMITED
            elif mutating and dice < (
                config.error_rate + config.rate_limit_rate + config.timeout_after_success_rate
            ):
                fault = Fault.TIMEOUT_AFTER_SUCCESS
            self.counts[fault.value] += 1
            return fault

    def chance(self, rate: float) -> bool:
        with self._lock:
            return self._random.random() < rate


async def add_latency(config: FaultConfig) -> None:
    """The configured latency: the first thing every API request does."""
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)


async def hang(config: FaultConfig) -> None:
    """Hold a "timeout after success" answer longer than the client waits."""
    await asyncio.sleep(config.timeout_hang_s)
