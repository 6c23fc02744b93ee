"""Plaid webhook JWTs (ES256): key fetched from the sandbox by kid, body hash and age checked."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import pytest

from paysaga.gateways.plaid_client import PlaidClient
from paysaga.gateways.webhooks import PlaidWebhookVerifier, WebhookVerificationError
from paysaga.sandbox import testdata
from paysaga.sandbox.plaid.signing import WebhookSigner
from paysaga.sandbox.runner import SandboxServers
from tests.gateways.conftest import SANDBOX_SETTINGS, WebhookReceiver

BODY = b'{"webhook_type":"AUTH","webhook_code":"DEFAULT_UPDATE","item_id":"x"}'


@pytest.fixture
def plaid(sandbox_servers: SandboxServers) -> Iterator[PlaidClient]:
    client = PlaidClient(
        SANDBOX_SETTINGS.plaid_client_id,
        SANDBOX_SETTINGS.plaid_secret,
        host=sandbox_servers.plaid_url,
    )
    yield client
    client.close()


@pytest.fixture
def signer(sandbox_servers: SandboxServers) -> WebhookSigner:
    return sandbox_servers.app("plaid").state.sandbox.signer  # type: ignore[no-any-return]


def test_sandbox_webhook_verifies_with_key_from_endpoint(
    plaid: PlaidClient, sandbox_servers: SandboxServers, webhook_receiver: WebhookReceiver
) -> None:
    fetched: list[str] = []

    def fetch(kid: str) -> dict[str, object]:
        fetched.append(kid)
        return plaid.webhook_verification_key(kid)

    verifier = PlaidWebhookVerifier(fetch)
    plaid.sandbox_public_token(testdata.PLAID_INSTITUTION_ID, webhook=webhook_receiver.url)
    assert sandbox_servers.app("plaid").state.sandbox.sender.flush(10)
    [(body, headers)] = webhook_receiver.received
    payload = verifier.verify(body, headers["Plaid-Verification"])
    assert (payload["webhook_type"], payload["webhook_code"]) == ("AUTH", "DEFAULT_UPDATE")
    verifier.verify(body, headers["Plaid-Verification"])
    assert len(fetched) == 1  # cached by kid


def _verifier(plaid: PlaidClient) -> PlaidWebhookVerifier:
    return PlaidWebhookVerifier(plaid.webhook_verification_key)


def test_tampered_body_rejected(plaid: PlaidClient, signer: WebhookSigner) -> None:
    token = signer.sign(BODY)
    _verifier(plaid).verify(BODY, token)
    with pytest.raises(WebhookVerificationError, match="body hash"):
        _verifier(plaid).verify(BODY.replace(b"x", b"y"), token)


def test_stale_token_rejected(plaid: PlaidClient, signer: WebhookSigner) -> None:
    with pytest.raises(WebhookVerificationError, match="too old"):
        _verifier(plaid).verify(BODY, signer.sign(BODY, iat=int(time.time()) - 301))


def test_wrong_key_and_unknown_kid_rejected(plaid: PlaidClient, signer: WebhookSigner) -> None:
    other = WebhookSigner()  # a forger's key
    forged = other.sign(BODY)
    with pytest.raises(WebhookVerificationError, match="unknown verification key"):
        _verifier(plaid).verify(BODY, forged)
    # Same kid as the sandbox's, signed with another key.
    other.kid = signer.kid
    with pytest.raises(WebhookVerificationError, match="signature invalid"):
        _verifier(plaid).verify(BODY, other.sign(BODY))


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_alg_other_than_es256_rejected(plaid: PlaidClient, signer: WebhookSigner) -> None:
    header, payload, sig = signer.sign(BODY).split(".")
    for alg in ("none", "HS256", "RS256"):
        token = f"{_b64({'alg': alg, 'kid': signer.kid, 'typ': 'JWT'})}.{payload}.{sig}"
        with pytest.raises(WebhookVerificationError, match="ES256"):
            _verifier(plaid).verify(BODY, token)
    for bad in (None, "", "a.b", "!!.??.##"):
        with pytest.raises(WebhookVerificationError):
            _verifier(plaid).verify(BODY, bad)
    assert header
