"""Routing rules, and which gateway errors allow a failover (only those that prove no
authorization happened). The failover itself is the payment workflow's: see
tests/workflows/test_payment_failover.py."""

from __future__ import annotations

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
