"""Failures after a request may have reached a gateway (issue 13, defects 11, 12, 14): the
authorize activity never retries blindly, lookups never take a 404 for the endpoint as a
verdict, and Braintree's catch-all UnexpectedError is a transport failure.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import stripe
from braintree.exceptions.not_found_error import NotFoundError
from braintree.exceptions.unexpected_error import UnexpectedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.gateway import GatewayActivities
from paysaga.domain.gateways import GatewayAuthorizeInput, GatewayLookupInput
from paysaga.gateways import braintree_errors, braintree_records, stripe_errors
from paysaga.gateways.errors import InvalidRequest, OutcomeUnknown, RateLimited, Unavailable
from paysaga.gateways.types import AuthorizeRequest, GatewayPayment
from tests.workflows.helpers import over_the_wire
from workflows.failures import classify

RESOURCE_MISSING = "resource_missing"  # both gateways' code for an id they do not know


class _Gateway:
    """A card gateway whose calls do what the test says."""

    def __init__(self, name: str, *, replays: bool, authorize: Any = None, retrieve: Any = None):
        self.name = name
        self.replays_idempotency_keys = replays
        self._authorize = authorize
        self._retrieve = retrieve
        self.sent: list[AuthorizeRequest] = []

    def authorize(self, request: AuthorizeRequest) -> GatewayPayment:
        self.sent.append(request)
        result: GatewayPayment = self._authorize()
        return result

    def retrieve(self, reference: str) -> GatewayPayment:
        result: GatewayPayment = self._retrieve()
        return result


def _attempt(gateway: str) -> GatewayAuthorizeInput:
    return GatewayAuthorizeInput(
        gateway=gateway,
        idempotency_key="payment-1:authorize-1",
        payment_id="payment-1",
        amount_minor=1000,
        currency="USD",
        payment_method="pm_card_visa",
        capture_now=True,
    )


def _malformed() -> GatewayPayment:
    # What StripeGateway._payment raised on an intent without amount_received.
    raise AttributeError("'NoneType' object has no attribute 'amount_received'")


async def test_an_unrecognised_error_after_the_send_is_outcome_unknown() -> None:
    """Defect 11: a bare AttributeError left the activity retryable: Temporal resent the
    authorization six times, each a new charge at a gateway without idempotency."""
    gateway = _Gateway("braintree", replays=False, authorize=_malformed)
    activities = GatewayActivities({"braintree": gateway})  # type: ignore[dict-item]
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.authorize, _attempt("braintree"))
    assert caught.value.type == "OutcomeUnknown" and caught.value.non_retryable
    assert len(gateway.sent) == 1


def _order_id_drifted() -> GatewayPayment:
    # A Braintree sale whose <order-id> came back as an object (chaos seed 1): the SDK
    # parses it into a dict, which braintree_records passed on as the payment id.
    sale = SimpleNamespace(
        id="txn_1",
        order_id={"id": "payment-1", "object": "unknown"},
        status="submitted_for_settlement",
        amount=Decimal("10.00"),
        currency_iso_code="USD",
        status_history=[],
    )
    return braintree_records.payment(sale)


async def test_an_answer_field_of_another_type_is_an_unknown_outcome_not_a_result() -> None:
    """Chaos seed 1: the activity returned a payment id that was a dict; the workflow could
    not decode the result, and its task failed on every try: a charged payment stuck in
    authorizing for good. The result's types are checked where it is built."""
    gateway = _Gateway("braintree", replays=False, authorize=_order_id_drifted)
    activities = GatewayActivities({"braintree": gateway})  # type: ignore[dict-item]
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.authorize, _attempt("braintree"))
    assert caught.value.type == "OutcomeUnknown" and caught.value.non_retryable
    assert "MalformedGatewayData" in caught.value.message


async def test_temporal_never_resends_a_sale_without_idempotency() -> None:
    """An earlier attempt may have timed out or crashed after Braintree made the sale:
    a retry of the activity refuses to send again (the workflow resolves it first)."""
    braintree = _Gateway("braintree", replays=False, authorize=_malformed)
    stripe_like = _Gateway("stripe", replays=True, authorize=_malformed)
    activities = GatewayActivities({"braintree": braintree, "stripe": stripe_like})  # type: ignore[dict-item]
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=2)
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.authorize, _attempt("braintree"))
    assert caught.value.type == "OutcomeUnknown" and braintree.sent == []
    # Stripe answers a same-key resend with the first result: its retries may send.
    with pytest.raises(ApplicationError):
        await env.run(activities.authorize, _attempt("stripe"))
    assert len(stripe_like.sent) == 1


def _rate_limited() -> GatewayPayment:
    raise RateLimited("Braintree rate limit", gateway="braintree", http_status=429)


async def test_a_refused_sale_without_idempotency_goes_back_to_the_workflow() -> None:
    """Issue 13 chaos finding: a Braintree 429 was retried by Temporal, whose retry the
    resend guard refused as an unknown outcome: a minute of search verdict per 429, and
    payments failed after three. Now the refusal is final and says nothing was charged
    (the workflow resends at once); the failure carries the gateway's search lag bound.
    Stripe's stay Temporal's to retry (same key, same answer)."""
    braintree = _Gateway("braintree", replays=False, authorize=_rate_limited)
    stripe_like = _Gateway("stripe", replays=True, authorize=_rate_limited)
    activities = GatewayActivities(
        {"braintree": braintree, "stripe": stripe_like},  # type: ignore[dict-item]
        search_lags={"braintree": 12.0, "stripe": 30.0},
    )
    caught = []
    for name in ("braintree", "stripe"):
        with pytest.raises(ApplicationError) as error:
            await ActivityEnvironment().run(activities.authorize, _attempt(name))
        caught.append(classify(over_the_wire(error.value)))
        assert error.value.non_retryable is (name == "braintree")
    assert [f.not_charged for f in caught] == [True, True]
    assert [f.search_lag for f in caught] == [timedelta(seconds=12), timedelta(seconds=30)]


async def test_a_lookup_of_an_unknown_id_is_not_found() -> None:
    """Defect 12: a 404 for the id was InvalidRequest, non-retryable: the payment failed."""

    def missing() -> GatewayPayment:
        error = InvalidRequest("no such payment_intent", gateway="stripe", http_status=404)
        error.code = RESOURCE_MISSING
        raise error

    gateway = _Gateway("stripe", replays=True, retrieve=missing)
    activities = GatewayActivities({"stripe": gateway})  # type: ignore[dict-item]
    request = GatewayLookupInput(gateway="stripe", payment_id="payment-1", reference="pi_x")
    found = await ActivityEnvironment().run(activities.lookup, request)
    assert not found.found and found.payment is None


def test_a_404_for_the_endpoint_is_retried() -> None:
    """Defect 12: an unknown endpoint (no such route) is Unavailable, never a verdict."""
    unrecognised = stripe.InvalidRequestError(  # type: ignore[no-untyped-call]
        "Unrecognized request URL (GET: /v1/payment_intents/search)", None, http_status=404
    )
    assert isinstance(stripe_errors.map_stripe_error(unrecognised, mutating=False), Unavailable)
    missing = stripe.InvalidRequestError(  # type: ignore[no-untyped-call]
        "No such payment_intent", "id", code=RESOURCE_MISSING, http_status=404
    )
    mapped = stripe_errors.map_stripe_error(missing, mutating=False)
    assert isinstance(mapped, InvalidRequest) and mapped.code == RESOURCE_MISSING
    bt = braintree_errors.sdk_error(NotFoundError(), mutating=False, retry_after=None)
    assert isinstance(bt, InvalidRequest) and bt.code == RESOURCE_MISSING  # a find's id


def test_braintree_unexpected_error_after_the_send_is_outcome_unknown() -> None:
    """Defect 14: the SDK wraps a transport error it has no class for (a broken chunked
    answer after the sale was sent) in UnexpectedError, which was read as InvalidRequest."""
    wrapped = UnexpectedError(requests.exceptions.ChunkedEncodingError("connection broken"))
    write = braintree_errors.sdk_error(wrapped, mutating=True, retry_after=None)
    assert isinstance(write, OutcomeUnknown)
    read = braintree_errors.sdk_error(wrapped, mutating=False, retry_after=None)
    assert isinstance(read, Unavailable)


def test_braintree_search_404_is_the_endpoints() -> None:
    """Defect 12: a search carries no id, so its 404 is the endpoint's: retried, while
    lookup took it as a final InvalidRequest and the payment failed."""
    from types import SimpleNamespace

    from paysaga.gateways.braintree_gateway import BraintreeGateway

    gateway = BraintreeGateway(
        merchant_id="m", public_key="p", private_key="k", base_url="http://127.0.0.1:9"
    )

    def search(query: Any) -> Any:
        raise NotFoundError()

    gateway._gw = SimpleNamespace(transaction=SimpleNamespace(search=search))  # type: ignore[assignment]
    with pytest.raises(Unavailable):
        gateway.lookup("payment-1")
    gateway.close()
