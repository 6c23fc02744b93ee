"""Plaid client through plaid-python against the Plaid sandbox: every call and error class."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from paysaga.gateways.errors import (
    AuthenticationFailed,
    InvalidRequest,
    OutcomeUnknown,
    RateLimited,
    Unavailable,
)
from paysaga.gateways.plaid_client import PlaidClient
from paysaga.sandbox import testdata
from paysaga.sandbox.runner import SandboxServers
from paysaga.stack.ports import free_port
from tests.gateways.conftest import SANDBOX_SETTINGS, control


@pytest.fixture
def plaid(sandbox_servers: SandboxServers) -> Iterator[PlaidClient]:
    client = PlaidClient(
        SANDBOX_SETTINGS.plaid_client_id,
        SANDBOX_SETTINGS.plaid_secret,
        host=sandbox_servers.plaid_url,
        timeout_s=2,
    )
    yield client
    client.close()


def test_link_exchange_auth_identity_processor_token(plaid: PlaidClient) -> None:
    assert plaid.create_link_token("user-1", webhook="http://127.0.0.1:1/hook").startswith(
        "link-sandbox-"
    )
    public_token = plaid.sandbox_public_token(testdata.PLAID_INSTITUTION_ID)
    item = plaid.exchange_public_token(public_token)
    assert item.access_token.startswith("access-sandbox-")
    assert plaid.exchange_public_token(public_token) == item  # a retried exchange is harmless

    accounts = plaid.get_auth(item.access_token)
    assert [a.subtype for a in accounts] == ["checking", "savings"]
    assert all(a.routing_number == "011401533" and len(a.account_number) > 4 for a in accounts)

    owners = plaid.get_identity(item.access_token)
    assert {o.account_id for o in owners} == {a.account_id for a in accounts}
    assert all(o.names == (testdata.PLAID_SANDBOX_OWNER_NAME,) for o in owners)

    token = plaid.create_stripe_bank_account_token(item.access_token, accounts[0].account_id)
    assert token.startswith("btok_")
    assert (
        plaid.create_stripe_bank_account_token(item.access_token, accounts[0].account_id) == token
    )


def test_invalid_tokens_and_ids_are_invalid_requests(plaid: PlaidClient) -> None:
    with pytest.raises(InvalidRequest) as public:
        plaid.exchange_public_token("public-sandbox-unknown")
    assert public.value.field == "INVALID_PUBLIC_TOKEN" and public.value.http_status == 400
    with pytest.raises(InvalidRequest) as access:
        plaid.get_auth("access-sandbox-unknown")
    assert access.value.field == "INVALID_ACCESS_TOKEN"
    with pytest.raises(InvalidRequest):
        plaid.get_identity("access-sandbox-unknown")
    item = plaid.exchange_public_token(plaid.sandbox_public_token(testdata.PLAID_INSTITUTION_ID))
    with pytest.raises(InvalidRequest) as account:
        plaid.create_stripe_bank_account_token(item.access_token, "no-such-account")
    assert account.value.field == "INVALID_ACCOUNT_ID"
    with pytest.raises(InvalidRequest) as institution:
        plaid.sandbox_public_token("ins_nope")
    assert institution.value.field == "INVALID_INSTITUTION"
    with pytest.raises(InvalidRequest) as creds:
        plaid.sandbox_public_token(testdata.PLAID_INSTITUTION_ID, password="pass_bad")
    assert creds.value.field == "INVALID_CREDENTIALS"


def test_wrong_secret_is_authentication_failed(sandbox_servers: SandboxServers) -> None:
    client = PlaidClient(SANDBOX_SETTINGS.plaid_client_id, "wrong", host=sandbox_servers.plaid_url)
    with pytest.raises(AuthenticationFailed) as info:
        client.create_link_token("u")
    assert info.value.field is None and "INVALID_API_KEYS" in info.value.message
    client.close()


def test_faults_map_to_retryable_errors(plaid: PlaidClient, plaid_faults: str) -> None:
    control(plaid_faults, "faults", {"error_rate": 1.0})
    with pytest.raises(Unavailable):
        plaid.create_link_token("u")
    control(plaid_faults, "faults", {"rate_limit_rate": 1.0, "retry_after_s": 3})
    with pytest.raises(RateLimited) as limited:
        plaid.create_link_token("u")
    assert limited.value.retry_after == 3.0


def test_connection_refused_is_unavailable() -> None:
    client = PlaidClient("c", "s", host=f"http://127.0.0.1:{free_port()}", timeout_s=1)
    with pytest.raises(Unavailable):
        client.create_link_token("u")
    client.close()


def test_malformed_bodies_get_plaid_errors(sandbox_servers: SandboxServers) -> None:
    base = sandbox_servers.plaid_url
    creds = {"client_id": SANDBOX_SETTINGS.plaid_client_id, "secret": SANDBOX_SETTINGS.plaid_secret}
    cases = [
        (b"{not json", "INVALID_BODY"),
        (b"[1, 2]", "INVALID_BODY"),
        (httpx.Request("POST", "/", json={**creds}).content, "MISSING_FIELDS"),
        (httpx.Request("POST", "/", json={**creds, "access_token": 5}).content, "INVALID_FIELD"),
    ]
    for body, code in cases:
        response = httpx.post(
            f"{base}/auth/get", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        error = response.json()
        assert (error["error_type"], error["error_code"]) == ("INVALID_REQUEST", code)
        assert error["request_id"]


def test_timeout_after_success_is_outcome_unknown(plaid: PlaidClient, plaid_faults: str) -> None:
    item = plaid.exchange_public_token(plaid.sandbox_public_token(testdata.PLAID_INSTITUTION_ID))
    account = plaid.get_auth(item.access_token)[0]
    control(plaid_faults, "faults", {"timeout_after_success_rate": 1.0, "timeout_hang_s": 0.2})
    with pytest.raises(OutcomeUnknown):
        plaid.create_stripe_bank_account_token(item.access_token, account.account_id)
    control(plaid_faults, "faults", {})
    # The token was made; asking again returns the same one.
    first = plaid.create_stripe_bank_account_token(item.access_token, account.account_id)
    assert first == plaid.create_stripe_bank_account_token(item.access_token, account.account_id)
