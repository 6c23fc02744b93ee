"""The refund activity at a gateway without idempotency keys, and Stripe refund webhooks
(issue 13, defects 1 and 6)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest
from braintree.exceptions.server_error import ServerError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.errors import proves_not_charged
from activities.gateway import GatewayActivities
from paysaga.api.webhook_events import stripe_event
from paysaga.domain.events import EventKind
from paysaga.domain.gateways import GatewayRefundInput
from paysaga.gateways.braintree_gateway import BraintreeGateway
from paysaga.gateways.errors import Unavailable
from paysaga.gateways.types import RefundResult
from workflows.failures import failure_details

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


class FailingReadBraintree(LaggingBraintree):
    """Its search answers 500 before any credit is sent (braintree_gateway marks that)."""

    def refund(self, idempotency_key: str, reference: str, amount_minor: int) -> RefundResult:
        error = Unavailable("Braintree ServerError", gateway="braintree", http_status=500)
        error.nothing_sent = True
        raise error


@pytest.mark.parametrize("workflow_resends", [True, False])
async def test_a_refund_provably_not_sent_is_final_when_the_workflow_resends(
    workflow_resends: bool,
) -> None:
    """Retried by Temporal, the next attempt cannot know nothing was sent and waits out
    the search lag (chaos seed 1); the workflow that asks resends at once instead."""
    activities = GatewayActivities({"braintree": FailingReadBraintree()})  # type: ignore[dict-item]
    request = dataclasses.replace(REQUEST, workflow_resends_unsent=workflow_resends)
    with pytest.raises(ApplicationError) as raised:
        await _env(1).run(activities.refund, request)
    assert raised.value.type == "Unavailable"
    assert failure_details(list(raised.value.details)).not_charged
    assert raised.value.non_retryable is workflow_resends  # older workflows: retried as before


def test_braintree_marks_a_failed_read_before_the_credit_as_nothing_sent() -> None:
    gateway = BraintreeGateway(
        merchant_id="m", public_key="p", private_key="k", base_url="http://127.0.0.1:9"
    )

    def search(query: Any) -> Any:
        raise ServerError()

    gateway._gw = SimpleNamespace(transaction=SimpleNamespace(search=search))  # type: ignore[assignment]
    with pytest.raises(Unavailable) as raised:
        gateway.refund(f"{PAYMENT_ID}:refund-r1", "txn_1", 400)
    gateway.close()
    assert raised.value.http_status == 500 and raised.value.nothing_sent
    assert proves_not_charged(raised.value)
