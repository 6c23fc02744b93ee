"""Codec server: the Web UI's request shape, operator token, CORS, login cookie."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from temporalio.converter import DataConverter

from paysaga.security.codec import EncryptionCodec
from paysaga.security.codec_server import SESSION_COOKIE, _Sessions, create_app
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
