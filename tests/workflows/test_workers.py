"""Worker processes: queue selection, per-gateway rate limits, and SIGTERM draining."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from temporalio.exceptions import ApplicationError

from activities.errors import gateway_application_error
from paysaga.config.settings import Settings
from paysaga.domain.failures import FailureDetails
from paysaga.gateways.errors import Declined, OutcomeUnknown, RateLimited, Unavailable
from tests.workflows.engine import Engine
from workers.build import QueueNames, build_workers, parse_queues
from workers.deps import Dependencies
from workers.settings import WorkerSettings


def test_parse_queues() -> None:
    assert parse_queues("all") == ("payments", "gateways", "ledger")
    assert parse_queues("gateways") == ("gateways",)
    with pytest.raises(ValueError):
        parse_queues("everything")


def test_gateway_errors_are_classified() -> None:
    soft = gateway_application_error(
        Declined("no", gateway="stripe", decline_code="insufficient_funds", soft=True)
    )
    assert (soft.type, soft.non_retryable, soft.details[-1]) == (
        "Declined",
        True,
        FailureDetails("insufficient_funds", soft=True, failover=False),
    )
    limited = gateway_application_error(RateLimited("slow down", gateway="stripe", retry_after=2))
    assert limited.type == "RateLimited" and not limited.non_retryable
    assert limited.next_retry_delay is not None and limited.next_retry_delay.total_seconds() == 2
    assert limited.details[-1].failover is True  # nothing happened: another gateway may try
    down = gateway_application_error(Unavailable("down", gateway="braintree"))
    assert isinstance(down, ApplicationError) and not down.non_retryable
    unknown = gateway_application_error(OutcomeUnknown("timeout", gateway="stripe"))
    assert unknown.non_retryable and unknown.details[-1].failover is False


async def test_build_workers_rate_limits_each_gateway(engine: Engine) -> None:
    deps = Dependencies(gateways=engine.deps.gateways)
    names = QueueNames(payments="p", gateways="g", ledger="l")
    workers = build_workers(
        engine.client,
        engine.settings,
        ("gateways",),
        deps,
        names=names,
        worker_settings=WorkerSettings(braintree_rate=7),
    )
    limits = {w.task_queue: w.config().get("max_task_queue_activities_per_second") for w in workers}
    assert limits == {"g": None, "g-stripe": 25.0, "g-braintree": 7.0}


def test_sigterm_drains_and_exits_zero(engine_settings: Settings) -> None:
    env = {
        **os.environ,
        "PAYSAGA_TEMPORAL_ADDRESS": engine_settings.temporal_address,
        "PAYSAGA_DATABASE_URLS": ",".join(engine_settings.database_urls),
        "PAYSAGA_STRIPE_API_BASE": engine_settings.stripe_base(),
        "PAYSAGA_BRAINTREE_BASE_URL": engine_settings.braintree_base(),
        "PAYSAGA_PLAID_BASE_URL": engine_settings.plaid_base(),
        "PAYSAGA_LOG_FORMAT": "json",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers", "--queue", "all"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        for line in proc.stdout:
            if "workers.started" in line:
                break
            assert time.monotonic() < deadline, "workers did not start"
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    assert "workers.stopped" in rest
