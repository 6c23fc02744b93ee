"""Health, authentication and the error shape through the real server."""

from __future__ import annotations

from typing import Any

import httpx

from paysaga.client.control.merchants import IssuedKey
from tests.api.conftest import ApiServer


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code
    error: dict[str, Any] = body["error"]
    return error


def test_healthz_and_readyz(api_server: ApiServer) -> None:
    with api_server.client() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"temporal": "ok", "shard_0": "ok", "shard_1": "ok"}
        assert "/v1/payments" in http.get("/openapi.json").json()["paths"]


def test_missing_and_wrong_keys_are_401(api_server: ApiServer, merchant: IssuedKey) -> None:
    with api_server.client() as http:
        error = assert_error(http.get("/v1/payments"), 401, "unauthorized")
        assert error["field"] == "Authorization"
    wrong = merchant.api_key[:-4] + "AAAA"
    with api_server.client(wrong) as http:
        assert_error(http.get("/v1/payments"), 401, "unauthorized")
    with api_server.client(merchant.api_key) as http:
        assert http.get("/v1/payments").json() == {"object": "list", "data": []}


def test_framework_errors_have_our_shape(api_server: ApiServer, merchant: IssuedKey) -> None:
    with api_server.client(merchant.api_key) as http:
        assert_error(http.get("/nowhere"), 404, "not_found")
        assert_error(http.delete("/v1/payments"), 405, "method_not_allowed")
        assert_error(
            http.post(
                "/v1/payments",
                content=b"{nope",
                headers={"Idempotency-Key": "k1", "Content-Type": "application/json"},
            ),
            400,
            "invalid_json",
        )
        assert_error(http.post("/v1/payments", content=b"x" * 70_000), 413, "payload_too_large")
        assert_error(http.get("/v1/payments", params={"limit": "lots"}), 422, "invalid_request")
        # Without a JSON content type the body is not an object either.
        assert_error(http.post("/v1/payments", content=b"{}"), 422, "invalid_request")
