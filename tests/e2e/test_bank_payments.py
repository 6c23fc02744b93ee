"""Issue 15 items 1, 2 and 5 on the real engine: onboarding through the API (sandbox public
token), the bank account it produces, and ACH debits that name it; refusals before any
gateway call; the Plaid Balance precheck. Dev server, embedded PostgreSQL, sandboxes and
the production workers; no workflow fakes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe

from paysaga.client import PaysagaClient
from paysaga.client.control.db import control_engine
from paysaga.client.control.merchants import IssuedKey, MerchantStore
from paysaga.client.errors import BankAccountNotCustomers, BankAccountNotFound
from paysaga.domain import ach_returns
from tests.api.conftest import ApiServer, serve_api
from tests.workflows.engine import Engine, engine, engine_sandboxes, engine_settings  # noqa: F401

FINAL_ONBOARDING = {"completed", "failed", "expired", "canceled"}


@pytest.fixture
def api(engine: Engine) -> Iterator[ApiServer]:  # noqa: F811
    """The API on the engine's databases, starting workflows on the engine's queues.

    Blocking HTTP calls of the tests run in threads (asyncio.to_thread): the engine's
    workers share the test's event loop.
    """
    with serve_api(
        engine.settings, engine.sandboxes, task_queue=engine.names.payments, routing=engine.routing
    ) as server:
        yield server


async def new_merchant(engine: Engine, name: str) -> IssuedKey:  # noqa: F811
    db = control_engine(engine.settings.shard_urls()[0], pool_size=1)
    try:
        return await MerchantStore(db).create_merchant(name)
    finally:
        await db.dispose()


def custom_user(**account: Any) -> dict[str, str]:
    """Plaid's custom Sandbox user: `user_custom`, the configuration as the password."""
    config = {"override_accounts": [{"type": "depository", "subtype": "checking", **account}]}
    return {"override_username": "user_custom", "override_password": json.dumps(config)}


def wait_json(http: httpx.Client, path: str, statuses: set[str], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        body = http.get(path).json()
        if body.get("status") in statuses or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def onboard(
    http: httpx.Client, customer_id: str, sandbox: dict[str, str] | None = None
) -> dict[str, Any]:
    """The whole onboarding as a developer runs it against the sandbox, over HTTP."""
    started = http.post(
        "/v1/onboardings",
        json={"customer_id": customer_id, "email": "a@example.com", "name": "Alberta Charleson"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert started.status_code == 201, started.text
    onboarding_id = started.json()["id"]
    wait_json(http, f"/v1/onboardings/{onboarding_id}", {"awaiting_public_token"})
    token = http.post("/v1/sandbox/public_token", json=sandbox or {})
    assert token.status_code == 201, token.text
    handed = http.post(
        f"/v1/onboardings/{onboarding_id}/public_token",
        json={"public_token": token.json()["public_token"]},
    )
    assert handed.status_code == 200, handed.text
    view: dict[str, Any] = wait_json(http, f"/v1/onboardings/{onboarding_id}", FINAL_ONBOARDING)
    assert view["status"] == "completed", view
    return view


def pay(http: httpx.Client, key: str | None = None, **body: Any) -> httpx.Response:
    return http.post(
        "/v1/payments",
        json={"amount_minor": 2500, "currency": "USD", **body},
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


def stripe_stats(engine: Engine) -> dict[str, Any]:  # noqa: F811
    stats: dict[str, Any] = httpx.get(f"{engine.sandboxes.stripe_url}/__sandbox/stats").json()
    return stats


def plaid_stats(engine: Engine) -> dict[str, Any]:  # noqa: F811
    stats: dict[str, Any] = httpx.get(f"{engine.sandboxes.plaid_url}/__sandbox/stats").json()
    return stats


def assert_refused(
    engine: Engine,  # noqa: F811
    api: ApiServer,
    merchant: IssuedKey,
    status: int,
    code: str,
    **body: Any,
) -> None:
    """Refused with `status` and `code` before anything started or reached a gateway:
    the sandbox saw no request for it, and no payment exists under its key."""
    before = stripe_stats(engine)["payment_intents_created"], plaid_stats(engine)["requests"]
    key = uuid.uuid4().hex
    with api.client(merchant.api_key) as http:
        refused = pay(http, key, **body)
        assert refused.status_code == status, refused.text
        assert refused.json()["error"]["code"] == code, refused.text
        assert refused.json()["error"]["field"] == "bank_account_id", refused.text
        payment_id = f"payment-{merchant.merchant_id}.{key}"
        assert http.get(f"/v1/payments/{payment_id}").status_code == 404
    stats = stripe_stats(engine)
    after = stats["payment_intents_created"], plaid_stats(engine)["requests"]
    assert after == before
    assert payment_id not in stats["intents_per_payment_id"]


def onboard_and_debit(api: ApiServer, merchant: IssuedKey) -> tuple[dict[str, Any], Any]:
    with api.client(merchant.api_key) as http:
        view = onboard(http, "cust-ach")
        bank_account_id = view["bank_account_id"]
        assert bank_account_id.startswith("bank_") and view["bank_account_status"] == "verified"
        assert view["owner_name_match"] == "partial" and view["accounts"] == []
        account: dict[str, Any] = http.get(f"/v1/bank_accounts/{bank_account_id}").json()
        assert account["customer_id"] == "cust-ach" and account["status"] == "verified"
        assert (account["last4"], account["institution_name"]) == ("0000", "First Platypus Bank")
        assert account["gateway_customer_ref"] == view["customer_ref"]
        assert "1111222233" not in json.dumps(account)  # no account number, ever
        listed = http.get("/v1/bank_accounts", params={"customer_id": "cust-ach"}).json()
        assert [a["id"] for a in listed["data"]] == [bank_account_id]

        created = pay(http, customer_id="cust-ach", bank_account_id=bank_account_id, gateway="ach")
        assert created.status_code == 201, created.text
        payment_id = created.json()["id"]
        assert created.json()["bank_account_id"] == bank_account_id
        done = wait_json(http, f"/v1/payments/{payment_id}", {"processing", "settled", "failed"})
        assert done["status"] in ("processing", "settled"), done
        assert done["method_type"] == "ach" and done["captured_minor"] == 2500
        # No customer ledger account was opened for the customer (item 5).
        customer_account = f"customer_receivable:{merchant.merchant_id}:cust-ach:USD"
        assert http.get(f"/v1/ledger/accounts/{customer_account}").status_code == 404
    return account, done


async def test_onboard_then_ach_debit_by_bank_account(
    engine: Engine,  # noqa: F811
    api: ApiServer,
) -> None:
    """Issue 15 item 1: the onboarding's bank account is the one thing a payment names; the
    payment finds the Stripe customer and bank account itself (before: Stripe refused the
    debit, "The provided PaymentMethod belongs to another customer"). Item 5: no customer
    ledger accounts are opened any more."""
    merchant = await new_merchant(engine, "Bank Payee")
    # Blocking HTTP runs in a thread: the engine's workers share this event loop.
    account, done = await asyncio.to_thread(onboard_and_debit, api, merchant)
    bank_account_id = account["id"]
    # Stripe saw the debit on the onboarding's customer and bank account.
    sdk = stripe.StripeClient(
        engine.settings.stripe_api_key.get_secret_value(),
        base_addresses={"api": engine.sandboxes.stripe_url},
    )
    intent = await asyncio.to_thread(sdk.v1.payment_intents.retrieve, done["reference"])
    assert (intent.customer, intent.payment_method) == (
        account["gateway_customer_ref"],
        account["payment_method_ref"],
    )

    # The same through PaysagaClient: a second debit, then the ledger still verifies.
    client = await PaysagaClient.connect(
        engine.settings,
        merchant_id=merchant.merchant_id,
        temporal=engine.client,
        routing=engine.routing,
        task_queue=engine.names.payments,
    )
    try:
        second = await client.create_payment(
            idempotency_key=uuid.uuid4().hex,
            amount_minor=1200,
            currency="USD",
            customer_id="cust-ach",
            bank_account_id=bank_account_id,
        )
        second = await client.wait_for_payment(
            second.payment_id,
            lambda v: v.status in ("processing", "settled", "failed"),
            timeout=timedelta(seconds=60),
        )
        assert second.status in ("processing", "settled"), second.last_error
        assert second.bank_account_id == bank_account_id
        with pytest.raises(BankAccountNotCustomers):
            await client.create_payment(
                idempotency_key=uuid.uuid4().hex,
                amount_minor=1200,
                currency="USD",
                customer_id="someone-else",
                bank_account_id=bank_account_id,
            )
        other = await new_merchant(engine, "Stranger")
        with pytest.raises(BankAccountNotFound):
            await client.for_merchant(other.merchant_id).get_bank_account(bank_account_id)
    finally:
        await client.close()
    assert engine.deps.ledger is not None
    verified = await engine.deps.ledger.verify()
    assert verified.ok, verified.violations


async def test_bank_account_of_another_customer_or_merchant_is_refused_before_any_call(
    engine: Engine,  # noqa: F811
    api: ApiServer,
) -> None:
    """Another customer's account (same merchant): 403; another merchant's: 404 (its
    existence is not revealed). Neither reaches Stripe or Plaid, nor starts a payment."""
    mine, theirs = await new_merchant(engine, "Mine"), await new_merchant(engine, "Theirs")
    await asyncio.to_thread(refuse_strangers, engine, api, mine, theirs)


def refuse_strangers(
    engine: Engine,  # noqa: F811
    api: ApiServer,
    mine: IssuedKey,
    theirs: IssuedKey,
) -> None:
    with api.client(mine.api_key) as http:
        bank_account_id = onboard(http, "cust-a")["bank_account_id"]
    kw = {"bank_account_id": bank_account_id, "balance_check": True}
    mismatch = "bank_account_customer_mismatch"
    assert_refused(engine, api, mine, 403, mismatch, customer_id="cust-b", **kw)
    assert_refused(engine, api, theirs, 404, "bank_account_not_found", customer_id="cust-a", **kw)
    with api.client(theirs.api_key) as http:
        assert http.get(f"/v1/bank_accounts/{bank_account_id}").status_code == 404
        assert http.post(f"/v1/bank_accounts/{bank_account_id}/disable").status_code == 404
    unknown = {"customer_id": "cust-a", "bank_account_id": "bank_" + "0" * 24}
    assert_refused(engine, api, mine, 404, "bank_account_not_found", **unknown)


async def test_disabled_and_unverified_bank_accounts_are_refused(
    engine: Engine,  # noqa: F811
    api: ApiServer,
) -> None:
    merchant = await new_merchant(engine, "Careful")
    await asyncio.to_thread(refuse_disabled_and_unverified, engine, api, merchant)


def refuse_disabled_and_unverified(
    engine: Engine,  # noqa: F811
    api: ApiServer,
    merchant: IssuedKey,
) -> None:
    with api.client(merchant.api_key) as http:
        # The bank gave no owner name: completed, but unverified until the merchant checks.
        nameless = onboard(http, "cust-u", custom_user(identity={"names": []}))
        assert (nameless["bank_account_status"], nameless["owner_name_match"]) == (
            "unverified",
            "unavailable",
        )
        unverified = nameless["bank_account_id"]
        good = onboard(http, "cust-d")["bank_account_id"]
        first_key = uuid.uuid4().hex
        first = pay(http, first_key, customer_id="cust-d", bank_account_id=good)
        assert first.status_code == 201, first.text
        disabled = http.post(
            f"/v1/bank_accounts/{good}/disable", json={"reason": "customer revoked the mandate"}
        )
        assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
        assert disabled.json()["status_reason"] == "customer revoked the mandate"
        # A retry of the payment started before the disable is that payment, not a refusal.
        again = pay(http, first_key, customer_id="cust-d", bank_account_id=good)
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"], again.text
        # Disabled is final.
        assert http.post(f"/v1/bank_accounts/{good}/verify").json()["error"]["code"] == (
            "bank_account_disabled"
        )
    assert_refused(
        engine,
        api,
        merchant,
        409,
        "bank_account_not_verified",
        customer_id="cust-u",
        bank_account_id=unverified,
    )
    assert_refused(
        engine,
        api,
        merchant,
        409,
        "bank_account_disabled",
        customer_id="cust-d",
        bank_account_id=good,
    )
    with api.client(merchant.api_key) as http:
        verified = http.post(
            f"/v1/bank_accounts/{unverified}/verify", json={"reason": "saw a bank statement"}
        )
        assert verified.status_code == 200 and verified.json()["status"] == "verified"
        paid = pay(http, customer_id="cust-u", bank_account_id=unverified)
        assert paid.status_code == 201, paid.text
        done = wait_json(
            http, f"/v1/payments/{paid.json()['id']}", {"processing", "settled", "failed"}
        )
        assert done["status"] in ("processing", "settled"), done


async def test_balance_precheck_declines_a_short_account(
    engine: Engine,  # noqa: F811
    api: ApiServer,
) -> None:
    """Issue 15 item 2: Plaid Balance before the debit when the merchant asks; below the
    amount it is declined `insufficient_funds_precheck` and Stripe never sees it."""
    merchant = await new_merchant(engine, "Prudent")
    await asyncio.to_thread(precheck_balances, engine, api, merchant)


def precheck_balances(
    engine: Engine,  # noqa: F811
    api: ApiServer,
    merchant: IssuedKey,
) -> None:
    with api.client(merchant.api_key) as http:
        low = custom_user(starting_balance=30, force_available_balance=20.5)
        view = onboard(http, "cust-low", low)
        bank_account_id = view["bank_account_id"]
        checks = plaid_stats(engine)["balance_requests"]
        short = pay(
            http,
            customer_id="cust-low",
            bank_account_id=bank_account_id,
            amount_minor=2051,
            balance_check=True,
        )
        assert short.status_code == 201, short.text
        declined = wait_json(http, f"/v1/payments/{short.json()['id']}", {"failed", "processing"})
        assert declined["status"] == "failed", declined
        assert declined["decline_code"] == "insufficient_funds_precheck", declined
        assert declined["gateway"] is None and declined["reference"] is None
        assert short.json()["id"] not in stripe_stats(engine)["intents_per_payment_id"]
        assert plaid_stats(engine)["balance_requests"] == checks + 1
        # 20.50 available covers 20.50; without the option no balance is asked for.
        covered = pay(
            http,
            customer_id="cust-low",
            bank_account_id=bank_account_id,
            amount_minor=2050,
            balance_check=True,
        )
        unchecked = pay(
            http, customer_id="cust-low", bank_account_id=bank_account_id, amount_minor=9999
        )
        for created in (covered, unchecked):
            assert created.status_code == 201, created.text
            done = wait_json(
                http, f"/v1/payments/{created.json()['id']}", {"processing", "settled", "failed"}
            )
            assert done["status"] in ("processing", "settled"), done
        assert plaid_stats(engine)["balance_requests"] == checks + 2


async def test_bad_bank_payment_bodies_name_the_field(
    engine: Engine,  # noqa: F811
    api: ApiServer,
) -> None:
    merchant = await new_merchant(engine, "Sloppy")
    await asyncio.to_thread(refuse_bad_bodies, api, merchant)


def refuse_bad_bodies(api: ApiServer, merchant: IssuedKey) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"payment_method": "ba_123", "gateway": "ach"}, "bank_account_id"),
        (
            {"bank_account_id": "bank_" + "1" * 24, "payment_method": "pm_card_visa"},
            "payment_method",
        ),
        ({"bank_account_id": "bank_" + "1" * 24, "gateway": "braintree"}, "gateway"),
        ({"payment_method": "pm_card_visa", "balance_check": True}, "balance_check"),
        ({}, "payment_method"),
        ({"bank_account_id": "ba_123"}, "bank_account_id"),
    ]
    with api.client(merchant.api_key) as http:
        for body, field in cases:
            answer = pay(http, customer_id="cust-x", **body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["error"]["field"] == field, (body, answer.text)


def settle_then_return(
    api: ApiServer, merchant: IssuedKey, stripe_url: str, code: str, days_later: int
) -> dict[str, Any]:
    """Debit, settle it at the sandbox, then have the bank return it `days_later`."""
    _account, done = onboard_and_debit(api, merchant)
    payment_id = done["id"]
    with api.client(merchant.api_key) as http:
        # Settlement and the return reach the payment as Stripe's webhooks, on our API.
        faults = f"{stripe_url}/__sandbox/faults"
        httpx.post(faults, json={"webhook_url": f"{api.url}/webhooks/stripe"}).raise_for_status()
        try:
            reference = done["reference"]
            return _settle_and_return(http, stripe_url, payment_id, reference, code, days_later)
        finally:
            httpx.post(faults, json={}).raise_for_status()


def _settle_and_return(
    http: httpx.Client, stripe_url: str, payment_id: str, reference: str, code: str, days: int
) -> dict[str, Any]:
    # Stripe's window is 4 business days: 3 leave the debit processing, the 4th settles it.
    clock = f"{stripe_url}/__sandbox/clock"
    httpx.post(clock, json={"advance_business_days": 3}).raise_for_status()
    assert http.get(f"/v1/payments/{payment_id}").json()["status"] == "processing"
    httpx.post(clock, json={"advance_business_days": 1}).raise_for_status()
    settled = wait_json(http, f"/v1/payments/{payment_id}", {"settled", "failed"})
    assert settled["status"] == "settled", settled
    # The sandbox clock moves on (R10: up to 60 days after settlement), then the bank returns.
    httpx.post(clock, json={"advance_days": days}).raise_for_status()
    bank_return = {"reference": reference, "code": code}
    returned = httpx.post(f"{stripe_url}/__sandbox/ach_return", json=bank_return)
    assert returned.status_code == 200, returned.text
    # The real shape: Stripe's failure code, not the R-code.
    assert returned.json()["last_payment_error"]["code"] == ach_returns.FAILURE_CODES[code]
    again = httpx.post(f"{stripe_url}/__sandbox/ach_return", json=bank_return)
    assert again.status_code == 400  # a debit is returned once
    view: dict[str, Any] = wait_json(http, f"/v1/payments/{payment_id}", {"returned"})
    return view


@pytest.mark.parametrize(("code", "days_later"), [("R01", 0), ("R10", 59)])
async def test_ach_return_after_settlement_reverses_the_debit_once(
    engine: Engine,  # noqa: F811
    api: ApiServer,
    code: str,
    days_later: int,
) -> None:
    """Issue 15 item 3: a return (R01) that the bank sends after the debit settled reaches
    the payment through Stripe's payment_intent.payment_failed webhook, reverses the booked
    debit once, and the API shows its R-code; R10 comes 59 days later by the sandbox clock
    (before: the event was dropped as the payment was settled, and any return showed as
    R01 since the code was never read)."""
    merchant = await new_merchant(engine, "Returned Payee")
    stripe_url = engine.sandboxes.stripe_url
    view = await asyncio.to_thread(settle_then_return, api, merchant, stripe_url, code, days_later)
    assert view["status"] == "returned", view
    assert view["last_error"] and f"ach_return: {code}" in view["last_error"], view
    assert engine.deps.ledger is not None
    entries = await engine.deps.ledger.find_entries("payment_id", view["id"])
    reversals = [e for e in entries if e.reverses is not None]
    assert len(reversals) == 1, entries
    verified = await engine.deps.ledger.verify()
    assert verified.ok, verified.violations
