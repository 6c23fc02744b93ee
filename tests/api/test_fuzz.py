"""Hostile input at every endpoint: never a 5xx, every error in the JSON error shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paysaga.client.control.merchants import IssuedKey
from paysaga.config.settings import Settings
from paysaga.sandbox.runner import SandboxServers
from tests.api.conftest import ApiServer, serve_api

ENDPOINTS: list[tuple[str, str]] = [
    ("POST", "/v1/payments"),
    ("GET", "/v1/payments"),
    ("GET", "/v1/payments/{id}"),
    ("POST", "/v1/payments/{id}/capture"),
    ("POST", "/v1/payments/{id}/cancel"),
    ("POST", "/v1/payments/{id}/refunds"),
    ("POST", "/v1/onboardings"),
    ("GET", "/v1/onboardings/{id}"),
    ("POST", "/v1/onboardings/{id}/public_token"),
    ("GET", "/v1/ledger/accounts/{id}"),
    ("POST", "/v1/reconciliations"),
    ("POST", "/webhooks/stripe"),
    ("POST", "/webhooks/braintree"),
    ("POST", "/webhooks/plaid"),
    ("GET", "/healthz"),
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
# Bodies that look almost right: the real field names with hostile values.
near_miss = st.fixed_dictionaries(
    {},
    optional={
        "amount_minor": json_values,
        "currency": st.sampled_from(["USD", "usd", "XXX", "", "EUR\x00"]) | json_values,
        "customer_id": st.text(max_size=80) | json_values,
        "payment_method": st.sampled_from(["pm_card_visa", "../../etc", "<script>"]) | json_values,
        "capture": json_values,
        "gateway": st.sampled_from(["stripe", "paypal", None]) | json_values,
        "period": st.sampled_from(["2026-01-01", "2026-13-45", "today"]) | json_values,
        "public_token": st.text(max_size=50) | json_values,
        "email": st.text(max_size=30),
        "name": st.text(max_size=30),
    },
)
path_ids = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60),
    st.sampled_from(
        [
            "payment-mer_0000000000000000.k",
            "..%2F..%2Fadmin",
            "%00",
            "' OR 1=1 --",
            "payment-mer_0000000000000000.k' OR PaymentStatus != '",
            "a" * 400,
        ]
    ),
)
# Printable ASCII; no surrounding blanks, which the HTTP client itself refuses to send.
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120
).map(str.strip)
raw_bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    near_miss.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)


@pytest.fixture(scope="module")
def fuzz_api(api_settings: Settings, sandboxes: SandboxServers) -> Iterator[ApiServer]:
    """Its own server: hostile Authorization headers must not lock out other tests."""
    with serve_api(api_settings, sandboxes) as server:
        yield server


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        body: Any = response.json()
        assert set(body) >= {"error"}, body
        assert set(body["error"]) == {"code", "message", "field"}, body
        assert isinstance(body["error"]["code"], str) and body["error"]["code"]


def test_fuzz_every_endpoint(fuzz_api: ApiServer, merchant: IssuedKey) -> None:
    http = httpx.Client(base_url=fuzz_api.url, timeout=30)

    @settings(
        max_examples=250,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        endpoint=st.sampled_from(ENDPOINTS),
        ident=path_ids,
        body=raw_bodies,
        idempotency_key=st.none() | header_values,
        content_type=st.sampled_from(
            ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]
        ),
        auth=st.sampled_from(["good", "none", "garbage"]),
        garbage=header_values,
        query=st.dictionaries(
            st.sampled_from(["status", "customer", "limit"]), header_values, max_size=3
        ),
    )
    def one(
        endpoint: tuple[str, str],
        ident: str,
        body: bytes,
        idempotency_key: str | None,
        content_type: str,
        auth: str,
        garbage: str,
        query: dict[str, str],
    ) -> None:
        method, template = endpoint
        path = template.replace("{id}", quote(ident, safe="") or "x")
        headers = {"Content-Type": content_type} if content_type else {}
        if auth == "good":
            headers["Authorization"] = f"Bearer {merchant.api_key}"
        elif auth == "garbage":
            headers["Authorization"] = garbage
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if template.startswith("/webhooks/"):
            headers["Stripe-Signature"] = garbage
            headers["Plaid-Verification"] = garbage
        response = http.request(
            method, path, content=body if method == "POST" else None, headers=headers, params=query
        )
        _check(response)

    try:
        one()
    finally:
        http.close()
