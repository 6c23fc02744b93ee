"""Issue 14 item 1: a card number is refused in every field and header paysaga stores.

Through the real API server (uvicorn, dev server, PostgreSQL): each storing field or
header carrying a test card number answers 422 `card_number_not_accepted`, naming the
field, telling to tokenize, and nothing is recorded. The client library and the CLI,
which start workflows on Temporal directly, refuse the same way.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from typer.testing import CliRunner

from paysaga.cli.main import app
from paysaga.client import PaysagaClient
from paysaga.client.control.keys import IssuedApiKey
from paysaga.client.control.merchants import IssuedKey, MerchantStore
from paysaga.client.starts import start_payment
from paysaga.domain.onboarding import OnboardingRequest, OnboardingView
from paysaga.domain.pan import CardNumberNotAccepted
from paysaga.domain.payments import PaymentRequest, PaymentView
from paysaga.domain.routing import Routing
from paysaga.domain.status import OnboardingStatus, PaymentStatus
from paysaga.stack.temporal import TemporalDevServer
from tests.api import conftest as api_fixtures
from tests.api.conftest import ApiServer
from tests.workflows.helpers import payment_request, worker

shard_dsns = api_fixtures.shard_dsns
control_db = api_fixtures.control_db
sandboxes = api_fixtures.sandboxes
api_settings = api_fixtures.api_settings
api_server = api_fixtures.api_server
merchants = api_fixtures.merchants
merchant = api_fixtures.merchant
operator = api_fixtures.operator

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
VISA_DEBIT = "4000056655665556"
AMEX = "378282246310005"
PAYMENT = {
    "amount_minor": 1500,
    "currency": "USD",
    "customer_id": "cus_pan",
    "payment_method": "pm_card_visa",
}
ONBOARDING = {"customer_id": "cus_pan", "email": "a@example.com", "name": "Alberta"}

# (method, path template, json body, Idempotency-Key, the field the answer must name)
CASES: list[tuple[str, str, dict[str, Any] | None, str | None, str]] = [
    ("POST", "/v1/payments", {**PAYMENT, "payment_method": VISA}, "k1", "payment_method"),
    ("POST", "/v1/payments", {**PAYMENT, "payment_method": f"pm_{VISA}"}, "k2", "payment_method"),
    ("POST", "/v1/payments", {**PAYMENT, "customer_id": MASTERCARD}, "k3", "customer_id"),
    (
        "POST",
        "/v1/payments",
        {**PAYMENT, "customer_id": "5555-5555-5555-4444"},
        "k4",
        "customer_id",
    ),
    ("POST", "/v1/payments", {**PAYMENT, "description": f"card {AMEX}"}, "k5", "description"),
    (
        "POST",
        "/v1/payments",
        {**PAYMENT, "description": "4000 0566 5566 5556 exp 12/30"},
        "k6",
        "description",
    ),
    ("POST", "/v1/payments", {**PAYMENT, "metadata": {"card": VISA}}, "k7", "metadata.card"),
    ("POST", "/v1/payments", PAYMENT, VISA_DEBIT, "Idempotency-Key"),
    ("POST", "/v1/payments", PAYMENT, f"order-{VISA}", "Idempotency-Key"),
    ("POST", "/v1/payments/{pid}/capture", {"amount_minor": 100}, VISA, "Idempotency-Key"),
    ("POST", "/v1/payments/{pid}/cancel", None, MASTERCARD, "Idempotency-Key"),
    ("POST", "/v1/payments/{pid}/refunds", {"amount_minor": 100}, AMEX, "Idempotency-Key"),
    ("POST", "/v1/payments/{pid}/refunds", {"amount_minor": 1, "reason": VISA}, "r1", "reason"),
    ("GET", f"/v1/payments/payment-{{mid}}.{VISA}", None, None, "payment_id"),
    ("GET", f"/v1/payments?customer={MASTERCARD}", None, None, "customer"),
    ("POST", "/v1/onboardings", {**ONBOARDING, "customer_id": VISA}, "o1", "customer_id"),
    ("POST", "/v1/onboardings", {**ONBOARDING, "name": f"Al {AMEX}"}, "o2", "name"),
    ("POST", "/v1/onboardings", {**ONBOARDING, "email": f"{VISA}@x.io"}, "o3", "email"),
    ("POST", "/v1/onboardings", ONBOARDING, MASTERCARD, "Idempotency-Key"),
    (
        "POST",
        "/v1/onboardings/onboarding-{mid}.o4/public_token",
        {"public_token": f"public-sandbox-{VISA}"},
        None,
        "public_token",
    ),
    ("POST", "/v1/reconciliations", {"period": VISA}, None, "period"),
]


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def is_platform_operation(path: str) -> bool:
    """Paths an operator key calls (a merchant key gets 403 before its body is read)."""
    return path.startswith("/v1/reconciliations")


@pytest.mark.parametrize(("method", "path", "body", "key", "field"), CASES)
def test_each_storing_field_and_header_refuses_a_card_number(
    api_server: ApiServer,
    merchant: IssuedKey,
    operator: IssuedApiKey,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    key: str | None,
    field: str,
) -> None:
    mid = merchant.merchant_id
    url = path.format(mid=mid, pid=f"payment-{mid}.existing")
    headers = {"Idempotency-Key": key} if key else {}
    caller = operator.api_key if is_platform_operation(path) else merchant.api_key
    with api_server.client(caller) as http:
        response = http.request(method, url, json=body, headers=headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "card_number_not_accepted", error
    assert error["field"] == field
    assert "Stripe Elements" in error["message"] and "Braintree Drop-in" in error["message"]
    for card in (VISA, MASTERCARD, VISA_DEBIT, AMEX):
        assert card not in _digits(response.text)


async def test_refused_requests_record_nothing(
    api_server: ApiServer,
    merchant: IssuedKey,
    operator: IssuedApiKey,
    control_db: AsyncEngine,
    dev_client: Client,
) -> None:
    mid = merchant.merchant_id
    for method, path, body, key, _ in CASES:
        headers = {"Idempotency-Key": key} if key else {}
        url = path.format(mid=mid, pid=f"payment-{mid}.existing")
        caller = operator.api_key if is_platform_operation(path) else merchant.api_key
        with api_server.client(caller) as http:
            assert http.request(method, url, json=body, headers=headers).status_code == 422
    async with control_db.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT count(*) FROM idempotency_records WHERE merchant_id = :m"), {"m": mid}
            )
        ).scalar_one()
    assert rows == 0
    started = [w.id async for w in dev_client.list_workflows(f"MerchantId = '{mid}'")]
    assert started == []


async def test_client_and_direct_starts_refuse_before_temporal(
    dev_client: Client, control_db: AsyncEngine
) -> None:
    issued = await MerchantStore(control_db).create_merchant("Pan Client")
    client = PaysagaClient(dev_client, merchant_id=issued.merchant_id)
    good: dict[str, Any] = {
        "idempotency_key": uuid.uuid4().hex,
        "amount_minor": 100,
        "currency": "USD",
        "customer_id": "cus_ok",
        "payment_method": "pm_card_visa",
    }
    for change, field in (
        ({"idempotency_key": VISA}, "Idempotency-Key"),
        ({"customer_id": MASTERCARD}, "customer_id"),
        ({"payment_method": f"tok_{AMEX}"}, "payment_method"),
        ({"description": "4000-0566-5566-5556"}, "description"),
    ):
        with pytest.raises(CardNumberNotAccepted) as caught:
            await client.create_payment(**{**good, **change})
        assert caught.value.field == field
    for refused in (
        client.capture(f"payment-{issued.merchant_id}.x", request_id=VISA),
        client.cancel(f"payment-{issued.merchant_id}.x", request_id=VISA),
        client.cancel(f"payment-{issued.merchant_id}.x", reason=f"card {VISA}"),
    ):
        with pytest.raises(CardNumberNotAccepted):
            await refused
    with pytest.raises(CardNumberNotAccepted) as caught:
        await client.start_onboarding(
            idempotency_key="o", customer_id="c", legal_name=f"A {VISA}", email="a@b.c"
        )
    assert caught.value.field == "legal_name"
    # Starting directly (as the benchmarks do) is refused too, naming the field.
    request = PaymentRequest(
        idempotency_key=f"{issued.merchant_id}.direct",
        merchant_id=issued.merchant_id,
        customer_id=VISA,
        amount_minor=100,
        currency="USD",
        payment_method="pm_card_visa",
    )
    with pytest.raises(CardNumberNotAccepted) as caught:
        await start_payment(dev_client, request)
    assert caught.value.field == "customer_id"
    started = [
        w.id async for w in dev_client.list_workflows(f"MerchantId = '{issued.merchant_id}'")
    ]
    assert started == []


async def test_workflows_refuse_a_request_started_around_the_client(
    dev_client: Client, task_queue: str
) -> None:
    """Started with the bare SDK (no PaysagaClient, no starts.py): the workflow itself
    ends the payment / onboarding failed, saying why without the number."""
    payment = payment_request(task_queue, payment_method=f"pm_{VISA}")
    onboarding = OnboardingRequest(
        onboarding_id=f"onboarding-{uuid.uuid4().hex}",
        customer_id="c",
        legal_name=f"A {AMEX}",
        email="a@b.c",
        routing=Routing.single(task_queue),
    )
    async with worker(dev_client, task_queue, []):
        paid: PaymentView = await dev_client.execute_workflow(
            "PaymentWorkflow",
            payment,
            id=f"payment-{payment.idempotency_key}",
            task_queue=task_queue,
            result_type=PaymentView,
            execution_timeout=timedelta(seconds=15),  # without the check it would charge
        )
        onboarded: OnboardingView = await dev_client.execute_workflow(
            "OnboardingWorkflow",
            onboarding,
            id=onboarding.onboarding_id,
            task_queue=task_queue,
            result_type=OnboardingView,
            execution_timeout=timedelta(seconds=15),
        )
    assert paid.status == PaymentStatus.FAILED and paid.attempts == 0
    assert onboarded.status == OnboardingStatus.FAILED
    for view in (paid, onboarded):
        assert view.last_error and view.last_error.startswith("card_number_not_accepted")
        assert VISA not in view.last_error and AMEX not in view.last_error


def test_cli_pay_names_the_field(
    temporal_dev_server: TemporalDevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYSAGA_TEMPORAL_ADDRESS", temporal_dev_server.address)
    result = CliRunner().invoke(
        app,
        ["pay", "--amount", "100", "--customer", VISA, "--merchant", "mer_0123456789abcdef"],
    )
    assert result.exit_code == 1, result.output
    assert "card_number_not_accepted" in result.output and "customer_id" in result.output
    assert VISA not in result.output
