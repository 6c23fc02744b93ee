"""Plaid client through plaid-python against the Plaid sandbox: every call and error class."""

from __future__ import annotations

import json
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
from paysaga.gateways.plaid_client import Balance, PlaidClient, to_minor
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


# ------------------------------------------------ issue 15: balance and custom users


def _custom_user(**account: object) -> str:
    """Plaid's custom Sandbox user configuration (https://plaid.com/docs/sandbox/user-custom/)."""
    return json.dumps({"override_accounts": [{"type": "depository", **account}]})


def test_balance_get_parsed_by_the_sdk(plaid: PlaidClient) -> None:
    """/accounts/balance/get answers AccountsGetResponse, which plaid-python validates
    (AccountBase, AccountBalance): user_good's checking is 100.00 available, 110.00 current."""
    item = plaid.exchange_public_token(plaid.sandbox_public_token(testdata.PLAID_INSTITUTION_ID))
    checking = plaid.get_auth(item.access_token)[0]
    assert checking.institution_name == "First Platypus Bank"
    balance = plaid.get_balance(item.access_token, checking.account_id)
    assert balance == Balance(checking.account_id, 10_000, 11_000, "USD")
    with pytest.raises(InvalidRequest) as unknown:
        plaid.get_balance(item.access_token, "no-such-account")
    assert unknown.value.field == "INVALID_ACCOUNT_ID"


def test_custom_user_sets_balance_and_owner_names(plaid: PlaidClient) -> None:
    password = _custom_user(
        subtype="checking",
        starting_balance=12.5,
        force_available_balance=3.07,
        meta={"name": "Low", "mask": "4321"},
        identity={"names": ["Jane Q Public"]},
    )
    token = plaid.sandbox_public_token(
        testdata.PLAID_INSTITUTION_ID, username="user_custom", password=password
    )
    item = plaid.exchange_public_token(token)
    [account] = plaid.get_auth(item.access_token)
    assert (account.mask, account.subtype) == ("4321", "checking")
    assert plaid.get_identity(item.access_token)[0].names == ("Jane Q Public",)
    balance = plaid.get_balance(item.access_token, account.account_id)
    assert (balance.available_minor, balance.current_minor) == (307, 1250)
    nobody = plaid.exchange_public_token(
        plaid.sandbox_public_token(
            testdata.PLAID_INSTITUTION_ID,
            username="user_custom",
            password=_custom_user(identity={"names": []}),
        )
    )
    assert plaid.get_identity(nobody.access_token)[0].names == ()
    with pytest.raises(InvalidRequest) as bad:
        plaid.sandbox_public_token(
            testdata.PLAID_INSTITUTION_ID, username="user_custom", password="not json"
        )
    assert bad.value.field == "INVALID_FIELD"


def test_link_token_with_webhook_and_redirect_uri(plaid: PlaidClient) -> None:
    token = plaid.create_link_token(
        "mer_1.cust-1", webhook="https://example.com/webhooks/plaid", redirect_uri="https://x/oauth"
    )
    assert token.startswith("link-sandbox-")


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [(100.0, "USD", 10_000), (0.1 + 0.2, "USD", 30), (12.34, "USD", 1234), (500.0, "JPY", 500)],
)
def test_plaid_amounts_to_minor_units_exactly(amount: float, currency: str, minor: int) -> None:
    assert to_minor(amount, currency) == minor
    assert to_minor(None, currency) is None and to_minor(amount, None) is None
