"""Two merchants onboarding the same customer id get two customers (issue 14 item 3): since
issue 15, two bank accounts, each readable by its merchant only (onboardings no longer
open customer ledger accounts). The whole onboarding through the real API, workers,
Plaid sandbox and control database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from paysaga.client.control.db import control_engine
from paysaga.client.control.merchants import IssuedKey, MerchantStore
from paysaga.gateways.plaid_client import PlaidClient
from paysaga.sandbox.testdata import PLAID_INSTITUTION_ID, PLAID_SANDBOX_OWNER_NAME
from tests.api.conftest import ApiServer, serve_api
from tests.workflows.engine import Engine, engine, engine_sandboxes, engine_settings  # noqa: F401


@pytest.fixture
def engine_api(engine: Engine) -> Iterator[ApiServer]:  # noqa: F811
    """The API on the engine's databases, starting workflows on the engine's queues."""
    with serve_api(
        engine.settings,
        engine.sandboxes,
        task_queue=engine.names.payments,
        routing=engine.routing,
    ) as server:
        yield server


async def _merchant(engine: Engine, name: str) -> IssuedKey:  # noqa: F811
    db = control_engine(engine.settings.shard_urls()[0], pool_size=1)
    try:
        return await MerchantStore(db).create_merchant(name)
    finally:
        await db.dispose()


def _onboard(api: ApiServer, key: str, customer_id: str, public_token: str) -> dict[str, object]:
    with api.client(key) as http:
        started = http.post(
            "/v1/onboardings",
            json={
                "customer_id": customer_id,
                "email": "alberta@example.com",
                "name": PLAID_SANDBOX_OWNER_NAME,
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert started.status_code == 201, started.text
        onboarding_id = started.json()["id"]
        _wait(http, onboarding_id, {"awaiting_public_token"})
        handed = http.post(
            f"/v1/onboardings/{onboarding_id}/public_token", json={"public_token": public_token}
        )
        assert handed.status_code == 200, handed.text
        return _wait(http, onboarding_id, {"completed", "failed", "expired", "canceled"})


def _wait(http: httpx.Client, onboarding_id: str, statuses: set[str]) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        view: dict[str, object] = http.get(f"/v1/onboardings/{onboarding_id}").json()
        if view.get("status") in statuses or time.monotonic() > deadline:
            return view
        time.sleep(0.2)


async def test_same_customer_id_of_two_merchants_is_two_customers(
    engine: Engine,  # noqa: F811
    engine_api: ApiServer,
) -> None:
    first, second = await _merchant(engine, "First"), await _merchant(engine, "Second")
    plaid = PlaidClient.from_settings(engine.settings)
    try:
        tokens = [
            await asyncio.to_thread(plaid.sandbox_public_token, PLAID_INSTITUTION_ID)
            for _ in range(2)
        ]
    finally:
        plaid.close()
    views = await asyncio.gather(
        asyncio.to_thread(_onboard, engine_api, first.api_key, "cust-shared", tokens[0]),
        asyncio.to_thread(_onboard, engine_api, second.api_key, "cust-shared", tokens[1]),
    )
    for view in views:
        assert view["status"] == "completed", view
        assert view["accounts"] == []  # issue 15 item 5: no customer ledger accounts
    first_bank, second_bank = (str(view["bank_account_id"]) for view in views)
    assert first_bank.startswith("bank_") and first_bank != second_bank
    with engine_api.client(first.api_key) as mine, engine_api.client(second.api_key) as theirs:
        for client, own, other in (
            (mine, first_bank, second_bank),
            (theirs, second_bank, first_bank),
        ):
            assert client.get(f"/v1/bank_accounts/{own}").json()["customer_id"] == "cust-shared"
            denied = client.get(f"/v1/bank_accounts/{other}")
            assert denied.status_code == 404, denied.text
            assert denied.json()["error"]["code"] == "bank_account_not_found"
