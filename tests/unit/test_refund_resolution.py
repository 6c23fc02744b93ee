"""The refund activity at a gateway without idempotency keys, and Stripe refund webhooks
(issue 13, defects 1 and 6)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.gateway import GatewayActivities
from paysaga.api.webhook_events import stripe_event
from paysaga.domain.events import EventKind
from paysaga.domain.gateways import GatewayRefundInput
from paysaga.gateways.types import RefundResult

PAYMENT_ID = "payment-mer_0123456789abcdef.k1"


class LaggingBraintree:
    """Refunds by order id, no idempotency, a search that does not show the credit yet."""

    name = "braintree"

    def __init__(self) -> None:
        self.credits: list[str] = []

    def find_refund(self, idempotency_key: str) -> RefundResult | None:
        return None  # the search lags: the credit made by the first attempt is not shown

    def refund(self, idempotency_key: str, reference: str, amount_minor: int) -> RefundResult:
        if self.find_refund(idempotency_key) is None:  # like braintree_gateway.refund
            self.credits.append(idempotency_key)
        return RefundResult("braintree", "cr_1", reference, amount_minor, "USD", "succeeded")


def _env(attempt: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    return env


REQUEST = GatewayRefundInput("braintree", f"{PAYMENT_ID}:refund-r1", "txn_1", 400)


async def test_first_attempt_refunds() -> None:
    gateway = LaggingBraintree()
    activities = GatewayActivities({"braintree": gateway})  # type: ignore[dict-item]
    await _env(1).run(activities.refund, REQUEST)
    assert gateway.credits == [REQUEST.idempotency_key]


async def test_a_retry_never_credits_again_on_a_search_miss() -> None:
    """The attempt before may have refunded (timeout, worker crash): a miss of a lagging
    search is an unknown outcome for the workflow to resolve past the lag, not a go."""
    gateway = LaggingBraintree()
    activities = GatewayActivities({"braintree": gateway})  # type: ignore[dict-item]
    with pytest.raises(ApplicationError) as raised:
        await _env(2).run(activities.refund, REQUEST)
    assert raised.value.type == "OutcomeUnknown" and raised.value.non_retryable
    assert gateway.credits == []


def _stripe_refund_event(event_type: str, status: str) -> dict[str, Any]:
    return {
        "id": "evt_1",
        "type": event_type,
        "created": 1_700_000_000,
        "data": {
            "object": {
                "id": "re_1",
                "object": "refund",
                "amount": 400,
                "status": status,
                "payment_intent": "pi_1",
                "metadata": {"payment_id": PAYMENT_ID},
            }
        },
    }


@pytest.mark.parametrize(
    ("event_type", "status", "kind"),
    [
        ("refund.failed", "failed", EventKind.REFUND_FAILED),
        ("charge.refund.updated", "failed", EventKind.REFUND_FAILED),
        ("refund.updated", "succeeded", EventKind.REFUND_SUCCEEDED),
        ("charge.refund.updated", "pending", None),
    ],
)
def test_stripe_refund_events_name_the_refund(
    event_type: str, status: str, kind: EventKind | None
) -> None:
    normalised = stripe_event(_stripe_refund_event(event_type, status))
    assert normalised.payment_id == PAYMENT_ID
    if kind is None:
        assert normalised.event is None
        return
    assert normalised.event is not None
    assert normalised.event.kind == kind
    assert normalised.event.reference == "pi_1"
    assert normalised.event.data["refund_reference"] == "re_1"
    assert normalised.event.amount_minor == 400
