"""Worker tuning from the environment (prefix PAYSAGA_WORKER_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Stripe's documented limits: 100 read/write requests per second live, 25 in test mode.
STRIPE_LIVE_RATE = 100.0
STRIPE_TEST_RATE = 25.0


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYSAGA_WORKER_", extra="ignore")

    # Per-gateway activity rate limits (per second, across all workers of the queue).
    # None: Stripe's own limit for the key's mode; Braintree the same as Stripe test mode.
    stripe_rate: float | None = Field(None, gt=0)
    braintree_rate: float | None = Field(None, gt=0)
    max_concurrent_activities: int = Field(100, ge=1)
    max_concurrent_workflow_tasks: int = Field(100, ge=1)
    # Workflows kept in the sticky cache; 0 replays the whole history on every task.
    # Payments stay open for their refund window, so the cache holds every payment in
    # flight plus idle ones: at the SDK's 1000, a burst of 1000 (bench.payments) evicts
    # and replays workflows mid-saga. A cached payment costs about 80 KB (bench.payments
    # mb_per_in_flight); the throughput effect was within run-to-run noise.
    max_cached_workflows: int = Field(4000, ge=0)
    graceful_shutdown_s: float = Field(30.0, ge=0)

    def gateway_rate(self, gateway: str, live: bool) -> float:
        if gateway == "stripe":
            return self.stripe_rate or (STRIPE_LIVE_RATE if live else STRIPE_TEST_RATE)
        return self.braintree_rate or STRIPE_TEST_RATE
