"""Faults through the real SDK: timeouts after success, 5xx storms, settlement, tampering."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

import pytest

from paysaga.gateways.errors import InvalidRequest, OutcomeUnknown, RateLimited, Unavailable
from paysaga.gateways.stripe_gateway import StripeGateway
from paysaga.gateways.types import AuthorizeRequest, GatewayPaymentState
from paysaga.sandbox import testdata
from paysaga.sandbox.runner import SandboxServers
from paysaga.sandbox.settings import SandboxSettings
from tests.gateways.conftest import SANDBOX_SETTINGS, control

T = TypeVar("T")


@pytest.fixture
def fast_timeout_gateway(stripe_faults: str) -> Iterator[StripeGateway]:
    gateway = StripeGateway(SANDBOX_SETTINGS.stripe_api_key, api_base=stripe_faults, timeout_s=0.4)
    yield gateway
    gateway.close()


def _retrying(call: Callable[[], T], attempts: int = 40) -> tuple[T, int]:
    """What a workflow does: retry retryable and unknown outcomes with the SAME key."""
    for attempt in range(1, attempts + 1):
        try:
            return call(), attempt
        except (Unavailable, RateLimited, OutcomeUnknown):
            continue
    raise AssertionError("never succeeded")


def test_timeout_after_success_is_outcome_unknown_then_resolved_by_lookup(
    fast_timeout_gateway: StripeGateway, stripe_faults: str
) -> None:
    control(stripe_faults, "faults", {"timeout_after_success_rate": 1.0, "timeout_hang_s": 1.5})
    request = AuthorizeRequest(
        f"wf-{uuid.uuid4().hex}:authorize", f"pay-{uuid.uuid4().hex}", 4200, "USD", "pm_card_visa"
    )
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown) as info:
        fast_timeout_gateway.authorize(request)
    assert not info.value.retryable and time.monotonic() - started < 1.4
    control(stripe_faults, "faults", {})
    found = fast_timeout_gateway.lookup(request.payment_id)  # the charge did happen
    assert found is not None and found.state is GatewayPaymentState.AUTHORIZED
    replay = fast_timeout_gateway.authorize(request)  # same key: the stored response
    assert replay.reference == found.reference


def test_chaos_retries_with_same_key_never_double_charge(
    fast_timeout_gateway: StripeGateway, stripe_faults: str
) -> None:
    """The issue's acceptance test: 30% 5xx and 10% timeouts-after-success."""
    control(
        stripe_faults,
        "faults",
        {
            "error_rate": 0.3,
            "timeout_after_success_rate": 0.1,
            "timeout_hang_s": 1.0,
            "seed": 1234,
        },
    )
    payments = []
    total_attempts = 0
    for i in range(25):
        workflow = f"wf-chaos-{uuid.uuid4().hex}"
        request = AuthorizeRequest(
            f"{workflow}:authorize", f"pay-chaos-{i}-{workflow}", 1000 + i, "USD", "pm_card_visa"
        )
        payment, attempts = _retrying(partial(fast_timeout_gateway.authorize, request))
        total_attempts += attempts
        captured, attempts = _retrying(
            partial(fast_timeout_gateway.capture, f"{workflow}:capture", payment.reference)
        )
        total_attempts += attempts
        assert captured.captured_minor == request.amount_minor
        payments.append((request, payment))
    stats = control(stripe_faults, "stats")
    faults = stats["faults"]
    assert isinstance(faults, dict)
    assert faults["server_error"] > 0 and faults["timeout_after_success"] > 0
    assert total_attempts > 50  # the faults really forced retries
    per_id = stats["intents_per_payment_id"]
    charges = stats["successful_charges_per_payment_id"]
    captured_minor = stats["captured_minor"]
    assert (
        isinstance(per_id, dict) and isinstance(charges, dict) and isinstance(captured_minor, dict)
    )
    for request, payment in payments:
        assert per_id[request.payment_id] == 1
        assert charges[request.payment_id] == 1
        assert captured_minor[payment.reference] == request.amount_minor


def test_captured_payments_settle_after_delay_and_tampering_shows_up() -> None:
    settings = SandboxSettings(settle_after_s=0.3)
    with SandboxServers(settings) as servers:
        gateway = StripeGateway(settings.stripe_api_key, api_base=servers.stripe_url)
        start = datetime.now(UTC) - timedelta(seconds=2)
        refs = []
        for i in range(3):
            payment = gateway.authorize(
                AuthorizeRequest(f"k-{i}", f"pay-settle-{i}", 1000, "USD", "pm_card_visa")
            )
            gateway.capture(f"k-{i}:capture", payment.reference)
            refs.append(payment.reference)
        # Tamper before settlement: one dropped, one altered by +7.
        control(servers.stripe_url, "tamper", {"reference": refs[0], "action": "drop"})
        control(
            servers.stripe_url,
            "tamper",
            {"reference": refs[1], "action": "alter_amount", "delta_minor": 7},
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            settled = {
                t.reference: t.amount_minor
                for t in gateway.list_settled(start, datetime.now(UTC) + timedelta(seconds=2))
            }
            if len(settled) == 2:
                break
            time.sleep(0.1)
        assert settled == {refs[1]: 1007, refs[2]: 1000}
        # Tampering after settlement changes the listing too.
        control(servers.stripe_url, "tamper", {"reference": refs[2], "action": "drop"})
        after = gateway.list_settled(start, datetime.now(UTC) + timedelta(seconds=2))
        assert {t.reference for t in after} == {refs[1]}
        gateway.close()


def test_requires_action_card_is_not_captured(stripe_gateway: StripeGateway) -> None:
    payment = stripe_gateway.authorize(
        AuthorizeRequest(
            f"wf-{uuid.uuid4().hex}", "pay-3ds", 500, "USD", testdata.STRIPE_PM_REQUIRES_ACTION
        )
    )
    with pytest.raises(InvalidRequest):
        stripe_gateway.capture(f"wf-{uuid.uuid4().hex}:capture", payment.reference)


def test_withheld_response_is_outcome_unknown_even_for_patient_clients(
    stripe_gateway: StripeGateway, stripe_faults: str
) -> None:
    """After the hang the sandbox drops the connection: never a clean 5xx that invites failover."""
    control(stripe_faults, "faults", {"timeout_after_success_rate": 1.0, "timeout_hang_s": 0.2})
    request = AuthorizeRequest(
        f"wf-{uuid.uuid4().hex}:authorize", f"pay-{uuid.uuid4().hex}", 100, "USD", "pm_card_visa"
    )
    with pytest.raises(OutcomeUnknown):
        stripe_gateway.authorize(request)  # timeout_s=5 > hang
    control(stripe_faults, "faults", {})
    assert stripe_gateway.lookup(request.payment_id) is not None


def test_latency_is_added_to_every_request(
    stripe_gateway: StripeGateway, stripe_faults: str
) -> None:
    control(stripe_faults, "faults", {"latency_ms": 300})
    started = time.monotonic()
    with pytest.raises(InvalidRequest):
        stripe_gateway.retrieve("pi_missing")
    assert time.monotonic() - started >= 0.3


def test_settle_before_cutoff_only(stripe_gateway: StripeGateway, stripe_faults: str) -> None:
    payment = stripe_gateway.authorize(
        AuthorizeRequest(
            f"wf-{uuid.uuid4().hex}", f"pay-{uuid.uuid4().hex}", 100, "USD", "pm_card_visa"
        )
    )
    stripe_gateway.capture(f"wf-{uuid.uuid4().hex}", payment.reference)
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    control(stripe_faults, "settle", {"before": past})
    assert stripe_gateway.retrieve(payment.reference).state is GatewayPaymentState.CAPTURED
    control(stripe_faults, "settle", {})
    assert stripe_gateway.retrieve(payment.reference).state is GatewayPaymentState.SETTLED


def test_adapters_from_settings(sandbox_servers: SandboxServers) -> None:
    from paysaga.config.settings import load_settings
    from paysaga.gateways.plaid_client import PlaidClient

    settings = load_settings(
        stripe_api_base=sandbox_servers.stripe_url, plaid_base_url=sandbox_servers.plaid_url
    )
    gateway = StripeGateway.from_settings(settings)
    with pytest.raises(InvalidRequest):
        gateway.retrieve("pi_missing")  # authenticated: a 404, not a 401
    plaid = PlaidClient.from_settings(settings)
    assert plaid.create_link_token("u").startswith("link-sandbox-")
    plaid.close()
    gateway.close()
