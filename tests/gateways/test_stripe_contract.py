"""Stripe adapter through the official SDK against the Stripe sandbox: every operation and error."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import stripe

from paysaga.gateways.base import CardGateway
from paysaga.gateways.errors import (
    AuthenticationFailed,
    Declined,
    IdempotencyMismatch,
    InvalidRequest,
    RateLimited,
    Unavailable,
)
from paysaga.gateways.stripe_gateway import StripeGateway
from paysaga.gateways.types import AuthorizeRequest, GatewayPaymentState
from paysaga.sandbox import testdata
from paysaga.sandbox.runner import SandboxServers
from paysaga.stack.ports import free_port
from tests.gateways.conftest import SANDBOX_SETTINGS, control


def _key() -> str:
    return f"wf-{uuid.uuid4().hex}"


def _auth(pm: str, amount: int = 5000, customer: str | None = None, key: str | None = None):
    payment_id = f"pay-{uuid.uuid4().hex[:12]}"
    return AuthorizeRequest(
        idempotency_key=key or f"{_key()}:authorize",
        payment_id=payment_id,
        amount_minor=amount,
        currency="USD",
        payment_method=pm,
        customer_ref=customer,
    )


def test_satisfies_the_card_gateway_protocol(stripe_gateway: StripeGateway) -> None:
    assert isinstance(stripe_gateway, CardGateway)


def test_vault_authorize_partial_capture_refunds_and_settlement(
    stripe_gateway: StripeGateway, sandbox_servers: SandboxServers
) -> None:
    key = _key()
    vaulted = stripe_gateway.vault_customer(
        key, email="ada@example.com", name="Ada", payment_method=testdata.STRIPE_PM_SUCCESS
    )
    assert vaulted.customer_ref.startswith("cus_") and vaulted.payment_method_ref.startswith("pm_")
    assert vaulted.payment_method_ref != testdata.STRIPE_PM_SUCCESS  # attach clones test cards

    request = _auth(vaulted.payment_method_ref, 5000, vaulted.customer_ref)
    payment = stripe_gateway.authorize(request)
    assert payment.state is GatewayPaymentState.AUTHORIZED
    assert (payment.amount_minor, payment.captured_minor, payment.payment_id) == (
        5000,
        0,
        request.payment_id,
    )

    captured = stripe_gateway.capture(f"{key}:capture", payment.reference, 4000)
    assert captured.state is GatewayPaymentState.CAPTURED and captured.captured_minor == 4000

    first = stripe_gateway.refund(f"{key}:refund-1", payment.reference, 1500)
    assert (first.amount_minor, first.status, first.payment_reference) == (
        1500,
        "succeeded",
        payment.reference,
    )
    # Never more than captured minus refunded.
    with pytest.raises(InvalidRequest) as too_much:
        stripe_gateway.refund(f"{key}:refund-2", payment.reference, 2501)
    assert too_much.value.http_status == 400 and (too_much.value.request_id or "").startswith(
        "req_"
    )
    stripe_gateway.refund(f"{key}:refund-3", payment.reference, 2500)
    with pytest.raises(InvalidRequest):
        stripe_gateway.refund(f"{key}:refund-4", payment.reference, 1)

    state = stripe_gateway.retrieve(payment.reference)
    assert (state.captured_minor, state.refunded_minor) == (4000, 4000)
    assert stripe_gateway.lookup(request.payment_id) == state
    assert stripe_gateway.lookup("pay-never-made") is None

    before = datetime.now(UTC) - timedelta(seconds=5)
    control(sandbox_servers.stripe_url, "settle", {})
    settled = [
        t
        for t in stripe_gateway.list_settled(before, datetime.now(UTC) + timedelta(seconds=5))
        if t.reference == payment.reference
    ]
    kinds = sorted((t.kind, t.amount_minor) for t in settled)
    assert kinds == [("charge", 4000), ("refund", 1500), ("refund", 2500)]
    charge = next(t for t in settled if t.kind == "charge")
    assert charge.payment_id == request.payment_id and charge.fee_minor == 146  # 2.9% + 30
    assert all(t.payment_id == request.payment_id for t in settled)
    assert stripe_gateway.retrieve(payment.reference).state is GatewayPaymentState.SETTLED


def test_full_capture_cancel_and_capture_now(stripe_gateway: StripeGateway) -> None:
    key = _key()
    payment = stripe_gateway.authorize(_auth(testdata.STRIPE_PM_SUCCESS_MASTERCARD, 1234))
    full = stripe_gateway.capture(f"{key}:capture", payment.reference)
    assert full.captured_minor == 1234
    with pytest.raises(InvalidRequest):  # cannot cancel a captured payment
        stripe_gateway.cancel(f"{key}:cancel", payment.reference)

    held = stripe_gateway.authorize(_auth(testdata.STRIPE_PM_SUCCESS, 700))
    canceled = stripe_gateway.cancel(f"{key}:cancel-2", held.reference)
    assert canceled.state is GatewayPaymentState.CANCELED
    with pytest.raises(InvalidRequest):  # nor capture a canceled one
        stripe_gateway.capture(f"{key}:capture-2", held.reference)

    now = stripe_gateway.authorize(
        AuthorizeRequest(
            f"{key}:auth-now", "pay-now-" + key, 900, "EUR", "pm_card_visa", None, "", True
        )
    )
    assert now.state is GatewayPaymentState.CAPTURED and now.currency == "EUR"


def test_capture_more_than_authorized_is_invalid(stripe_gateway: StripeGateway) -> None:
    payment = stripe_gateway.authorize(_auth(testdata.STRIPE_PM_SUCCESS, 1000))
    with pytest.raises(InvalidRequest) as info:
        stripe_gateway.capture(f"{_key()}:capture", payment.reference, 1001)
    assert info.value.field == "amount_to_capture"


@pytest.mark.parametrize(
    ("pm", "decline_code", "soft"),
    [
        (testdata.STRIPE_PM_HARD_DECLINE, "generic_decline", False),
        (testdata.STRIPE_PM_STOLEN, "stolen_card", False),
        (testdata.STRIPE_PM_SOFT_DECLINE, "insufficient_funds", True),
        (testdata.STRIPE_PM_PROCESSING_ERROR, "processing_error", True),
    ],
)
def test_declines_are_typed_and_looked_up(
    stripe_gateway: StripeGateway, pm: str, decline_code: str, soft: bool
) -> None:
    request = _auth(pm)
    with pytest.raises(Declined) as info:
        stripe_gateway.authorize(request)
    assert (info.value.decline_code, info.value.soft, info.value.http_status) == (
        decline_code,
        soft,
        402,
    )
    # The replay of the same key gives the same decline, not a new attempt.
    with pytest.raises(Declined):
        stripe_gateway.authorize(request)
    found = stripe_gateway.lookup(request.payment_id)
    assert found is not None and found.state is GatewayPaymentState.FAILED
    assert found.decline_code == decline_code


def test_requires_action_and_soft_then_success(stripe_gateway: StripeGateway) -> None:
    challenged = stripe_gateway.authorize(_auth(testdata.STRIPE_PM_REQUIRES_ACTION))
    assert challenged.state is GatewayPaymentState.REQUIRES_ACTION

    vaulted = stripe_gateway.vault_customer(
        _key(), email="d@example.com", name="D", payment_method=testdata.STRIPE_PM_SOFT_THEN_SUCCESS
    )
    outcomes = []
    for _ in range(3):  # dunning: new attempt, new key
        try:
            stripe_gateway.authorize(_auth(vaulted.payment_method_ref, 100, vaulted.customer_ref))
            outcomes.append("ok")
        except Declined as exc:
            outcomes.append(exc.decline_code)
    assert outcomes == ["insufficient_funds", "insufficient_funds", "ok"]


def test_idempotent_replay_and_mismatch(
    stripe_gateway: StripeGateway, sandbox_servers: SandboxServers
) -> None:
    request = _auth(testdata.STRIPE_PM_SUCCESS, 2500)
    before = control(sandbox_servers.stripe_url, "stats")
    first = stripe_gateway.authorize(request)
    again = stripe_gateway.authorize(request)
    assert again == first
    after = control(sandbox_servers.stripe_url, "stats")
    assert after["idempotent_replays"] == before["idempotent_replays"] + 1  # type: ignore[operator]
    assert after["intents_per_payment_id"][request.payment_id] == 1  # type: ignore[index]

    changed = AuthorizeRequest(**{**request.__dict__, "amount_minor": 2600})
    with pytest.raises(IdempotencyMismatch):
        stripe_gateway.authorize(changed)


def test_unknown_ids_and_bad_input_are_invalid_requests(stripe_gateway: StripeGateway) -> None:
    with pytest.raises(InvalidRequest) as missing:
        stripe_gateway.retrieve("pi_doesnotexist")
    assert missing.value.http_status == 404
    with pytest.raises(InvalidRequest):
        stripe_gateway.capture(_key(), "pi_doesnotexist")
    with pytest.raises(InvalidRequest):
        stripe_gateway.authorize(_auth("pm_unknown"))
    with pytest.raises(InvalidRequest) as amount:
        stripe_gateway.authorize(_auth(testdata.STRIPE_PM_SUCCESS, 0))
    assert amount.value.field == "amount"
    with pytest.raises(InvalidRequest):
        stripe_gateway.vault_customer(
            _key(), email="x@example.com", name="X", payment_method="pm_nope"
        )


def test_malformed_bodies_get_stripe_errors(sandbox_servers: SandboxServers) -> None:
    base = sandbox_servers.stripe_url
    auth = {"Authorization": f"Bearer {SANDBOX_SETTINGS.stripe_api_key}"}
    form = {**auth, "Content-Type": "application/x-www-form-urlencoded"}
    cases = [
        ("amount=abc&currency=usd", "amount"),
        ("currency=usd", "amount"),
        ("amount=100&currency=usd&bogus=1", "bogus"),
        ("amount=100&currency=usd&metadata=notahash", "metadata"),
        ('{"amount": 100}', '{"amount": 100}'),  # JSON is not form encoding: unknown param
    ]
    for body, param in cases:
        response = httpx.post(f"{base}/v1/payment_intents", content=body, headers=form)
        assert response.status_code == 400, body
        error = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", param)
        assert response.headers["Request-Id"].startswith("req_")
    response = httpx.get(f"{base}/v1/nothing_here", headers=auth)
    assert response.status_code == 404 and "Unrecognized request URL" in response.text
    # The raw SDK raises its own classes for the same responses.
    client = stripe.StripeClient(
        SANDBOX_SETTINGS.stripe_api_key, base_addresses={"api": base}, max_network_retries=0
    )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.create(params={"amount": 100})  # type: ignore[typeddict-item]


def test_wrong_api_key_is_authentication_failed(sandbox_servers: SandboxServers) -> None:
    gateway = StripeGateway("sk_test_wrong_key_123456", api_base=sandbox_servers.stripe_url)
    with pytest.raises(AuthenticationFailed) as info:
        gateway.retrieve("pi_x")
    assert info.value.http_status == 401


def test_connection_refused_is_unavailable() -> None:
    gateway = StripeGateway("sk_test_x", api_base=f"http://127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(Unavailable):
        gateway.authorize(_auth(testdata.STRIPE_PM_SUCCESS))


def test_injected_server_error_and_rate_limit(
    stripe_gateway: StripeGateway, stripe_faults: str
) -> None:
    control(stripe_faults, "faults", {"error_rate": 1.0})
    with pytest.raises(Unavailable) as unavailable:
        stripe_gateway.authorize(_auth(testdata.STRIPE_PM_SUCCESS))
    assert unavailable.value.http_status == 500 and unavailable.value.retryable
    control(stripe_faults, "faults", {"rate_limit_rate": 1.0, "retry_after_s": 2.5})
    with pytest.raises(RateLimited) as limited:
        stripe_gateway.authorize(_auth(testdata.STRIPE_PM_SUCCESS))
    assert limited.value.retry_after == 2.5 and limited.value.http_status == 429


def test_ach_debit_from_plaid_processor_token_settles_or_returns(
    stripe_gateway: StripeGateway, sandbox_servers: SandboxServers
) -> None:
    from paysaga.gateways.plaid_client import PlaidClient

    plaid = PlaidClient(
        SANDBOX_SETTINGS.plaid_client_id,
        SANDBOX_SETTINGS.plaid_secret,
        host=sandbox_servers.plaid_url,
    )
    item = plaid.exchange_public_token(plaid.sandbox_public_token(testdata.PLAID_INSTITUTION_ID))
    account = plaid.get_auth(item.access_token)[0]
    btok = plaid.create_stripe_bank_account_token(item.access_token, account.account_id)
    plaid.close()

    key = _key()
    customer = stripe_gateway.create_customer(f"{key}:customer", email="b@example.com", name="B")
    bank = stripe_gateway.attach_bank_account(f"{key}:bank", customer, btok)
    assert bank.startswith("ba_")

    ok = stripe_gateway.debit_ach(_auth(bank, 10_000, customer))
    returned = stripe_gateway.debit_ach(_auth(bank, 20_000, customer))
    assert ok.state is GatewayPaymentState.PROCESSING and returned.state is ok.state

    control(
        sandbox_servers.stripe_url, "ach_return", {"reference": returned.reference, "code": "R01"}
    )
    failed = stripe_gateway.retrieve(returned.reference)
    assert (failed.state, failed.decline_code) == (GatewayPaymentState.FAILED, "R01")

    # Pending for the settlement window, in business days by the sandbox clock.
    control(sandbox_servers.stripe_url, "clock", {"advance_business_days": 3})
    assert stripe_gateway.retrieve(ok.reference).state is GatewayPaymentState.PROCESSING
    control(sandbox_servers.stripe_url, "clock", {"advance_business_days": 1})
    settled = stripe_gateway.retrieve(ok.reference)
    assert settled.state is GatewayPaymentState.SETTLED and settled.captured_minor == 10_000


def test_lookup_of_one_attempt_by_its_key(stripe_gateway: StripeGateway) -> None:
    """An attempt tagged with its key is found by it, and only by it (issue 13, defect 2):
    a dunning retry of the same payment id is another attempt."""
    first = replace(_auth(testdata.STRIPE_PM_SUCCESS), tag_attempt=True)
    second = replace(first, idempotency_key=f"{_key()}:authorize-2")
    payment = stripe_gateway.authorize(first)
    found = stripe_gateway.lookup(first.payment_id, attempt_key=first.idempotency_key)
    assert found is not None and found.reference == payment.reference
    assert stripe_gateway.lookup(first.payment_id, attempt_key=second.idempotency_key) is None
