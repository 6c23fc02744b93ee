"""Codec server: the Web UI's request shape, operator token, CORS, login cookie;
and its edges: nesting, non-protobuf plaintext, streamed size limit, throttled
credentials, Secure cookie (the memory and proxy checks against a real process
are in test_codec_server_process.py)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import FastAPI
from temporalio.converter import DataConverter

from paysaga.security.api_keys import RateLimiter
from paysaga.security.codec import EncryptionCodec
from paysaga.security.codec_server import (
    MAX_BODY_BYTES,
    SESSION_COOKIE,
    _Sessions,
    create_app,
)
from paysaga.security.keyring import Keyring

TOKEN = "operator-token-for-tests"
UI = "http://127.0.0.1:8233"
SECRET = {"amount_minor": 4242_00, "customer_id": "cus_codecsrv", "token": "tok_codecsrv"}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


async def ui_body(keyring: Keyring) -> dict[str, object]:
    """Exactly what the UI posts: a Payloads message in protobuf JSON form."""
    plain = DataConverter.default.payload_converter.to_payloads([SECRET])
    sealed = await EncryptionCodec(keyring).encode(plain)
    return {
        "payloads": [
            {"metadata": {k: _b64(v) for k, v in p.metadata.items()}, "data": _b64(p.data)}
            for p in sealed
        ]
    }


@pytest.fixture
def client(keyring1: Keyring) -> httpx.AsyncClient:
    app = create_app(keyring1, TOKEN, [UI, "http://localhost:8233"])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec")


UI_HEADERS = {"Content-Type": "application/json", "X-Namespace": "default", "Origin": UI}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_decode_with_token_returns_plain_payloads(client, keyring1) -> None:
    body = await ui_body(keyring1)
    response = await client.post(
        "/decode", json=body, headers={**UI_HEADERS, "Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == UI
    assert response.headers["access-control-allow-credentials"] == "true"
    [payload] = response.json()["payloads"]
    assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"
    assert json.loads(base64.b64decode(payload["data"])) == SECRET


async def test_without_token_is_401_and_reveals_nothing(client, keyring1) -> None:
    body = await ui_body(keyring1)
    for headers in (UI_HEADERS, {**UI_HEADERS, "Authorization": "Bearer wrong-token"}):
        response = await client.post("/decode", json=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
        # CORS headers are present so the UI can read the refusal and keep ciphertext.
        assert response.headers["access-control-allow-origin"] == UI
        assert "cus_codecsrv" not in response.text and "4242" not in response.text


async def test_cors_preflight_from_ui_origin_needs_no_token(client) -> None:
    response = await client.options(
        "/decode",
        headers={
            "Origin": "http://localhost:8233",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:8233"
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "x-namespace" in allowed


async def test_preflight_from_foreign_origin_is_refused(client) -> None:
    response = await client.options(
        "/decode",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_encode_then_decode_under_a_prefix(client) -> None:
    auth = {**UI_HEADERS, "Authorization": f"Bearer {TOKEN}"}
    plain = {"payloads": [{"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(b'"hi"')}]}
    encoded = await client.post("/default/encode", json=plain, headers=auth)
    assert encoded.status_code == 200
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    decoded = await client.post("/some/depth/decode", json=encoded.json(), headers=auth)
    assert decoded.json() == plain


async def test_tampered_payload_is_a_clear_error(client, keyring1) -> None:
    body = await ui_body(keyring1)
    payload = body["payloads"][0]  # type: ignore[index]
    data = bytearray(base64.b64decode(payload["data"]))
    data[15] ^= 0xFF
    payload["data"] = _b64(bytes(data))
    response = await client.post(
        "/decode", json=body, headers={**UI_HEADERS, "Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "ciphertext_tampered"


async def test_malformed_body_is_400(client) -> None:
    response = await client.post(
        "/decode", content=b"[1,2]", headers={**UI_HEADERS, "Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 400


async def test_login_sets_a_session_cookie_that_decodes(client, keyring1) -> None:
    refused = await client.post("/login", content=b"token=nope", headers={"Origin": UI})
    assert refused.status_code == 401 and SESSION_COOKIE not in refused.cookies
    response = await client.post(
        "/login",
        content=f"token={TOKEN}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 303
    cookie = response.cookies[SESSION_COOKIE]
    assert TOKEN not in cookie
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie
    decoded = await client.post(
        "/decode",
        json=await ui_body(keyring1),
        headers=UI_HEADERS,
        cookies={SESSION_COOKIE: cookie},
    )
    assert decoded.status_code == 200


def test_sessions_expire_and_reject_forgeries() -> None:
    sessions = _Sessions(TOKEN)
    cookie = sessions.issue(now=1_000_000)
    assert sessions.valid(cookie, now=1_000_010)
    assert not sessions.valid(cookie, now=1_000_000 + 9 * 3600)
    assert not _Sessions("rotated-token").valid(cookie, now=1_000_010)
    assert not sessions.valid("1000000.deadbeef", now=1_000_010)


# -- edges (issue 14, item 6): every bad input a bounded 4xx ----------------------------

AUTH = {**UI_HEADERS, "Authorization": f"Bearer {TOKEN}"}


def client_at(app: FastAPI, address: str, base_url: str = "http://codec") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


async def test_deeply_nested_json_is_400_not_500(client) -> None:
    depth = 100_000
    for body in (
        b"[" * depth + b"]" * depth,
        b'{"payloads": ' + b"[" * depth + b"]" * depth + b"}",
        b'{"a":' * depth + b"1" + b"}" * depth,
    ):
        response = await client.post("/decode", content=body, headers=AUTH)
        assert response.status_code == 400, response.text[:200]
        assert response.json()["code"] == "invalid_request"


async def test_authenticated_ciphertext_that_is_not_a_payload_is_422(client, key1) -> None:
    key_id, material = key1
    nonce = os.urandom(12)
    # Field 1, length-delimited, with a length far past the end: no protobuf parser accepts it.
    garbage = b"\x0a\xff\xff\xff\xff\x0f" + b"not a protobuf"
    sealed = AESGCM(material).encrypt(nonce, garbage, b"paysaga/payload/v1:" + key_id.encode())
    body = {
        "payloads": [
            {
                "metadata": {
                    "encoding": _b64(b"binary/encrypted"),
                    "encryption-key-id": _b64(key_id.encode()),
                },
                "data": _b64(nonce + sealed),
            }
        ]
    }
    response = await client.post("/decode", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "payload_not_protobuf"


async def test_oversized_body_is_refused_while_it_streams(client) -> None:
    pulled = 0
    chunk = b"x" * 65536

    async def twenty_mib() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(320):
            pulled += len(chunk)
            yield chunk

    response = await client.post("/decode", content=twenty_mib(), headers=AUTH)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert response.headers["connection"] == "close"
    # Read up to the limit and one chunk more, never the rest.
    assert pulled <= MAX_BODY_BYTES + len(chunk), pulled
    declared = await client.post(
        "/decode", content=b"{}", headers={**AUTH, "Content-Length": str(400 * 1024 * 1024)}
    )
    assert declared.status_code == 413


async def test_wrong_bearer_tokens_are_throttled_per_address(keyring1) -> None:
    app = create_app(keyring1, TOKEN, [UI])
    body = await ui_body(keyring1)
    async with client_at(app, "10.0.0.1") as attacker, client_at(app, "10.0.0.2") as operator:
        for _ in range(20):  # presenting nothing guesses nothing: not counted
            assert (
                await attacker.post("/decode", json=body, headers=UI_HEADERS)
            ).status_code == 401
        wrong = {**UI_HEADERS, "Authorization": "Bearer guess"}
        statuses = [
            (await attacker.post("/decode", json=body, headers=wrong)).status_code
            for _ in range(12)
        ]
        assert statuses == [401] * 10 + [429] * 2
        throttled = await attacker.post("/decode", json=body, headers=wrong)
        assert throttled.json()["code"] == "rate_limited"
        assert int(throttled.headers["Retry-After"]) >= 1
        assert throttled.headers["access-control-allow-origin"] == UI  # the UI can read it
        # While throttled even the right token is not checked from that address...
        assert (await attacker.post("/decode", json=body, headers=AUTH)).status_code == 429
        # ...but another address is not affected, and successes spend nothing.
        for _ in range(20):
            assert (await operator.post("/decode", json=body, headers=AUTH)).status_code == 200


async def test_the_failure_budget_refills(keyring1) -> None:
    clock = Clock()
    app = create_app(keyring1, TOKEN, [UI], failures=RateLimiter(10, 10 / 60, clock=clock))
    wrong = {**UI_HEADERS, "Authorization": "Bearer guess"}
    async with client_at(app, "10.0.0.6") as http:
        for _ in range(10):
            assert (await http.post("/decode", json={}, headers=wrong)).status_code == 401
        assert (await http.post("/decode", json={}, headers=wrong)).status_code == 429
        clock.now += 6  # one attempt refilled (10 a minute)
        assert (await http.post("/decode", json={}, headers=wrong)).status_code == 401
        assert (await http.post("/decode", json={}, headers=wrong)).status_code == 429


async def test_wrong_logins_are_throttled_and_a_session_still_works(keyring1) -> None:
    app = create_app(keyring1, TOKEN, [UI])
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with client_at(app, "10.0.0.3") as http:
        for _ in range(15):  # successful sign-ins are not throttled and spend nothing
            ok = await http.post("/login", content=f"token={TOKEN}".encode(), headers=form)
            assert ok.status_code == 303
        cookie = ok.cookies[SESSION_COOKIE]
        statuses = [
            (await http.post("/login", content=b"token=guess", headers=form)).status_code
            for _ in range(12)
        ]
        assert statuses == [401] * 10 + [429] * 2
        right = await http.post("/login", content=f"token={TOKEN}".encode(), headers=form)
        assert right.status_code == 429 and SESSION_COOKIE not in right.cookies
        # A session already held (an HMAC nobody can guess) keeps decoding.
        decoded = await http.post(
            "/decode",
            json=await ui_body(keyring1),
            headers=UI_HEADERS,
            cookies={SESSION_COOKIE: cookie},
        )
        assert decoded.status_code == 200
        many = "&".join(f"f{i}=1" for i in range(50)).encode()
    async with client_at(app, "10.0.0.4") as http:
        assert (await http.post("/login", content=many, headers=form)).status_code == 400


async def test_login_cookie_is_secure_over_https(keyring1) -> None:
    app = create_app(keyring1, TOKEN, [UI])
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    login = f"token={TOKEN}".encode()
    async with client_at(app, "10.0.0.5", base_url="https://codec") as https:
        response = await https.post("/login", content=login, headers=form)
    attributes = [part.strip().lower() for part in response.headers["set-cookie"].split(";")]
    assert {"secure", "httponly", "samesite=strict"} <= set(attributes)
    async with client_at(app, "10.0.0.5") as http:  # plain HTTP (loopback dev stack)
        response = await http.post("/login", content=login, headers=form)
    attributes = [part.strip().lower() for part in response.headers["set-cookie"].split(";")]
    assert "secure" not in attributes and {"httponly", "samesite=strict"} <= set(attributes)
