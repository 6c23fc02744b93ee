"""The issue's chaos test for Braintree: 30% 5xx and 10% timeouts-after-success.

Retrying through the adapter with the same idempotency key never creates a
second charge nor a second capture; asserted with the sandbox's own counters.
Run twice: with the sandbox's opt-in idempotency-header replay, and without it (the
default, what the real Braintree offers), where the order-id read-before-write
alone holds.
"""

# ruff: noqa: F811 - pytest fixtures imported by name, then requested as arguments

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from paysaga.gateways.errors import OutcomeUnknown, RateLimited, Unavailable
from paysaga.gateways.types import GatewayPayment, GatewayPaymentState
from tests.gateways.braintree_fixtures import (  # noqa: F401 - fixtures
    bt_url,
    make_gateway,
    new_payment,
    stats,
)
from tests.gateways.conftest import control

pytestmark = pytest.mark.timeout(120)
T = TypeVar("T")
PAYMENTS = 12


def with_retries(call: Callable[[], T], outcomes: list[str], attempts: int = 40) -> T:
    """What a workflow does: retry retryable errors; after an unknown outcome, ask again."""
    for _ in range(attempts):
        try:
            return call()
        except (Unavailable, RateLimited) as exc:
            outcomes.append(type(exc).__name__)
        except OutcomeUnknown:
            outcomes.append("OutcomeUnknown")
    raise AssertionError("no success after retries")


@pytest.mark.parametrize("header", [True, False], ids=["header-replay", "order-id-only"])
def test_retries_under_faults_never_double_charge(bt_url: str, header: bool) -> None:
    gateway = make_gateway(bt_url, timeout_s=0.4, send_idempotency_header=header)
    control(
        bt_url,
        "faults",
        {
            "error_rate": 0.3,
            "timeout_after_success_rate": 0.1,
            "timeout_hang_s": 0.8,
            "seed": 7,
            "braintree_idempotency_header": header,
        },
    )
    before = stats(bt_url)
    outcomes: list[str] = []
    payments: list[GatewayPayment] = []
    for n in range(PAYMENTS):
        request = new_payment(1_000 + n)
        authorized = with_retries(lambda r=request: gateway.authorize(r), outcomes)  # type: ignore[misc]
        captured = with_retries(
            lambda a=authorized, r=request: gateway.capture(  # type: ignore[misc]
                f"{r.idempotency_key}:capture", a.reference
            ),
            outcomes,
        )
        assert captured.state is GatewayPaymentState.CAPTURED
        payments.append(captured)
    control(bt_url, "faults", {})

    after = stats(bt_url)
    assert "Unavailable" in outcomes and "OutcomeUnknown" in outcomes  # faults did bite
    assert after["charges_created"] - before["charges_created"] == PAYMENTS
    for payment in payments:
        assert after["charges_by_order_id"][payment.payment_id] == 1
        assert after["captured_minor_by_order_id"][payment.payment_id] == payment.amount_minor
    assert after["captures"] - before["captures"] == PAYMENTS
    if header:
        assert after["idempotent_replays"] > before["idempotent_replays"]
    gateway.close()
