"""Routing rules and failover: only errors that prove no authorization move to the next gateway."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from paysaga.gateways.errors import (
    Declined,
    InvalidRequest,
    OutcomeUnknown,
    RateLimited,
    Unavailable,
)
from paysaga.gateways.router import GatewayRouter, RoutingRule, should_fail_over
from paysaga.gateways.stripe_gateway import StripeGateway
from paysaga.gateways.types import AuthorizeRequest, GatewayPaymentState
from paysaga.sandbox import testdata
from paysaga.sandbox.runner import SandboxServers
from paysaga.stack.ports import free_port
from tests.gateways.conftest import SANDBOX_SETTINGS, control


def test_should_fail_over_only_when_nothing_was_authorized() -> None:
    assert should_fail_over(Unavailable("down", gateway="stripe"))
    assert should_fail_over(RateLimited("slow down", gateway="stripe", retry_after=1))
    assert not should_fail_over(OutcomeUnknown("timed out after send", gateway="stripe"))
    assert not should_fail_over(Declined("no", gateway="stripe", decline_code="x", soft=True))
    assert not should_fail_over(InvalidRequest("bad", gateway="stripe"))
    assert not should_fail_over(RuntimeError("bug"))


def _router(rules: list[RoutingRule]) -> GatewayRouter:
    # choose() never calls a gateway; two adapter instances stand for the two gateways.
    gateways = {
        "stripe": StripeGateway("sk_test_a", api_base="http://127.0.0.1:9"),
        "braintree": StripeGateway("sk_test_b", api_base="http://127.0.0.1:9"),
    }
    return GatewayRouter(gateways, rules, default="stripe")


def test_rules_by_currency_amount_and_vaulted_gateway() -> None:
    router = _router(
        [
            RoutingRule("braintree", currencies=frozenset({"eur"})),
            RoutingRule("braintree", min_amount_minor=1_000_000),
        ]
    )
    assert router.choose("p1", "EUR", 100) == ["braintree", "stripe"]
    assert router.choose("p1", "USD", 100) == ["stripe", "braintree"]
    assert router.choose("p1", "USD", 1_000_000) == ["braintree", "stripe"]
    assert router.choose("p1", "EUR", 100, vaulted_gateway="stripe") == ["stripe"]  # pinned
    with pytest.raises(ValueError):
        router.choose("p1", "EUR", 100, vaulted_gateway="adyen")


def test_percentage_rule_is_stable_per_payment() -> None:
    router = _router([RoutingRule("braintree", percent=30)])
    picks = [router.choose(f"pay-{i}", "USD", 100)[0] for i in range(1000)]
    assert picks == [router.choose(f"pay-{i}", "USD", 100)[0] for i in range(1000)]
    assert 220 < picks.count("braintree") < 380


def test_configuration_errors() -> None:
    with pytest.raises(ValueError):
        _router([RoutingRule("adyen")])
    with pytest.raises(ValueError):
        GatewayRouter({}, [], default="stripe")
    with pytest.raises(ValueError):
        RoutingRule("stripe", percent=101)


@pytest.fixture
def real_router(sandbox_servers: SandboxServers) -> Iterator[tuple[GatewayRouter, str]]:
    """Two real Stripe adapters: "primary" behind its own faults, "secondary" healthy.

    Each talks to a real sandbox over HTTP; "down" points at a closed port.
    """
    with SandboxServers(SANDBOX_SETTINGS) as other:
        gateways = {
            "primary": StripeGateway(
                SANDBOX_SETTINGS.stripe_api_key, api_base=other.stripe_url, timeout_s=0.5
            ),
            "secondary": StripeGateway(
                SANDBOX_SETTINGS.stripe_api_key, api_base=sandbox_servers.stripe_url
            ),
        }
        yield GatewayRouter(gateways, [], default="primary"), other.stripe_url


def _factory(workflow: str, pm: str = testdata.STRIPE_PM_SUCCESS):
    def make(gateway: str) -> AuthorizeRequest:
        # Each gateway gets its own idempotency key step.
        return AuthorizeRequest(f"{workflow}:authorize:{gateway}", workflow, 1500, "USD", pm)

    return make


def test_fails_over_when_primary_is_unavailable(real_router: tuple[GatewayRouter, str]) -> None:
    router, primary_url = real_router
    control(primary_url, "faults", {"error_rate": 1.0})
    workflow = f"pay-{uuid.uuid4().hex}"
    name, payment = router.authorize_with_failover(
        _factory(workflow), payment_id=workflow, currency="USD", amount_minor=1500
    )
    assert name == "secondary" and payment.state is GatewayPaymentState.AUTHORIZED


def test_fails_over_when_primary_is_unreachable(sandbox_servers: SandboxServers) -> None:
    router = GatewayRouter(
        {
            "down": StripeGateway("sk", api_base=f"http://127.0.0.1:{free_port()}"),
            "up": StripeGateway(
                SANDBOX_SETTINGS.stripe_api_key, api_base=sandbox_servers.stripe_url
            ),
        },
        [],
        default="down",
    )
    workflow = f"pay-{uuid.uuid4().hex}"
    name, payment = router.authorize_with_failover(
        _factory(workflow), payment_id=workflow, currency="USD", amount_minor=1500
    )
    assert name == "up" and payment.reference.startswith("pi_")


def test_never_fails_over_after_outcome_unknown_or_decline(
    real_router: tuple[GatewayRouter, str], sandbox_servers: SandboxServers
) -> None:
    router, primary_url = real_router
    control(primary_url, "faults", {"timeout_after_success_rate": 1.0, "timeout_hang_s": 1.0})
    workflow = f"pay-{uuid.uuid4().hex}"
    with pytest.raises(OutcomeUnknown):
        router.authorize_with_failover(
            _factory(workflow), payment_id=workflow, currency="USD", amount_minor=1500
        )
    control(primary_url, "faults", {})
    secondary = control(sandbox_servers.stripe_url, "stats")["intents_per_payment_id"]
    assert workflow not in secondary  # type: ignore[operator]

    declined = f"pay-{uuid.uuid4().hex}"
    with pytest.raises(Declined):
        router.authorize_with_failover(
            _factory(declined, testdata.STRIPE_PM_HARD_DECLINE),
            payment_id=declined,
            currency="USD",
            amount_minor=1500,
        )
    assert declined not in control(sandbox_servers.stripe_url, "stats")["intents_per_payment_id"]  # type: ignore[operator]
