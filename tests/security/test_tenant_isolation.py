"""Tenants are isolated (issue 14 item 3), through the real API server.

Platform operations take an operator key (403 for a merchant key, and the other way
round); a ledger account belongs to the merchant named in its id, decided by parsing
it, so a customer id that spells another merchant's id reads nothing of theirs;
out-of-range periods are 422, not 500. Customer accounts of two merchants that onboard
the same customer id are two accounts: tests/security/test_tenant_onboarding.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from ledger.service import Ledger
from paysaga.cli.main import app
from paysaga.client.control.keys import IssuedApiKey
from paysaga.client.control.merchants import IssuedKey
from paysaga.config.settings import Settings
from paysaga.domain import accounts
from tests.api import conftest as api_fixtures
from tests.api.conftest import ApiServer
from tests.api.test_auth_and_health import assert_error

shard_dsns = api_fixtures.shard_dsns
control_db = api_fixtures.control_db
sandboxes = api_fixtures.sandboxes
api_settings = api_fixtures.api_settings
api_server = api_fixtures.api_server
merchants = api_fixtures.merchants
merchant = api_fixtures.merchant
other_merchant = api_fixtures.other_merchant
operator = api_fixtures.operator


@pytest.fixture
async def ledger(api_settings: Settings) -> AsyncIterator[Ledger]:
    opened = await Ledger(api_settings.shard_urls(), pool_max=2).open()
    try:
        yield opened
    finally:
        await opened.close()


def test_a_merchant_key_cannot_start_reconciliation(
    api_server: ApiServer, merchant: IssuedKey, operator: IssuedApiKey
) -> None:
    day = datetime.now(UTC).date().isoformat()
    with api_server.client(merchant.api_key) as http:
        refused = http.post("/v1/reconciliations", json={"period": day})
    error = assert_error(refused, 403, "operator_key_required")
    assert "operator" in error["message"]
    with api_server.client(operator.api_key) as http:
        started = http.post("/v1/reconciliations", json={"period": day})
        assert started.status_code == 202, started.text
        assert started.json()["id"] == f"reconciliation-{day}"
        # An operator key acts for no merchant: it reaches no merchant's resources.
        assert_error(http.get("/v1/payments"), 403, "merchant_key_required")


@pytest.mark.parametrize("period", ["9999-12-31", "0001-01-01", "1999-12-31", "+30 days"])
def test_out_of_range_period_is_422(
    api_server: ApiServer, operator: IssuedApiKey, period: str
) -> None:
    if period == "+30 days":
        period = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    with api_server.client(operator.api_key) as http:
        error = assert_error(
            http.post("/v1/reconciliations", json={"period": period}), 422, "invalid_request"
        )
    assert error["field"] == "period" and "out of range" in error["message"]


async def test_account_owner_is_parsed_not_searched(
    api_server: ApiServer, merchant: IssuedKey, other_merchant: IssuedKey, ledger: Ledger
) -> None:
    mine, theirs = merchant.merchant_id, other_merchant.merchant_id
    # `merchant` onboarded a customer whose id spells the other merchant's id.
    namespaced = accounts.customer_receivable(mine, theirs, "USD")
    legacy = accounts.customer_receivable(None, theirs, "USD")  # named before namespacing
    payable = accounts.merchant_payable(mine, "USD")
    for account_id in (namespaced, legacy):
        await ledger.create_account(account_id, "USD", "debit")
    await ledger.create_account(payable, "USD", "credit", hot=True)
    with api_server.client(other_merchant.api_key) as http:
        for account_id in (namespaced, legacy, payable):
            assert_error(http.get(f"/v1/ledger/accounts/{account_id}"), 404, "account_not_found")
    with api_server.client(merchant.api_key) as http:
        for account_id in (namespaced, payable):
            read = http.get(f"/v1/ledger/accounts/{account_id}")
            assert read.status_code == 200, read.text
            assert read.json()["id"] == account_id
        # A pre-namespace account may be shared by two merchants: nobody reads it.
        assert_error(http.get(f"/v1/ledger/accounts/{legacy}"), 404, "account_not_found")


def test_owner_of_account_parses_exactly() -> None:
    mer = "mer_0123456789abcdef"
    assert accounts.owner_of_account(f"merchant_payable:{mer}:USD") == mer
    assert accounts.owner_of_account(f"customer_balance:{mer}:cust-1:EUR") == mer
    for not_owned in (
        f"customer_receivable:{mer}:USD",  # pre-namespace: customer id `mer_...`
        f"merchant_payable:{mer}:USD:extra",
        f"merchant_payable:x{mer}:usd",
        f"gateway_receivable:stripe:USD:s0:{mer}",
        f"customer_balance::{mer}:USD",
        f"clearing:{mer}:USD",
    ):
        assert accounts.owner_of_account(not_owned) is None, not_owned


def test_a_key_revoked_with_the_cli_gets_401(
    api_server: ApiServer, shard_dsns: list[str], merchant: IssuedKey
) -> None:
    with api_server.client(merchant.api_key) as http:
        assert http.get("/v1/payments").status_code == 200
    revoked = CliRunner().invoke(
        app, ["keys", "revoke", merchant.key_id, "--dsn", shard_dsns[0]], env={}
    )
    assert revoked.exit_code == 0, revoked.output
    with api_server.client(merchant.api_key) as http:
        assert_error(http.get("/v1/payments"), 401, "unauthorized")
