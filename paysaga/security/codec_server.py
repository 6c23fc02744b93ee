"""Codec server for the Temporal Web UI: POST /encode and /decode, operator-only.

Protocol (Temporal codec server): the body is a `Payloads` message in protobuf
JSON form, `{"payloads": [{"metadata": {k: base64}, "data": base64}]}`; only the
last path segment selects encode/decode; `X-Namespace` names the namespace.

Who may decode: an operator holding PAYSAGA_CODEC_TOKEN, shown either as
`Authorization: Bearer <token>` (tctl/CLI, or a UI behind SSO that forwards it)
or as the session cookie set by `/login`. The cookie exists because the Web UI
only forwards an Authorization header over HTTPS; on the loopback dev stack the
operator signs in once at /login and ticks "include cross-origin credentials"
in the UI's codec settings. Without either, the answer is 401 and the UI keeps
showing ciphertext.

Edges (issue 14): bodies are limited while they stream in (413, the rest is
not read); wrong tokens (at /login or as a bearer) are throttled per client
address (429 with Retry-After, the token left unchecked; a valid session cookie,
an HMAC nobody can guess, is never throttled); every malformed body is a 4xx
with a code. The session cookie is HttpOnly, SameSite=Strict, and Secure when
the request came over HTTPS (served with TLS, or `X-Forwarded-Proto: https`
from a proxy named by --trusted-proxy).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Annotated
from urllib.parse import parse_qs

import structlog
import uvicorn
from fastapi import Depends, FastAPI, Header, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payloads

from paysaga.api.limits import BodySizeLimit
from paysaga.config.settings import Settings
from paysaga.domain.errors import PaysagaError
from paysaga.security.api_keys import RateLimiter
from paysaga.security.codec import EncryptionCodec
from paysaga.security.keyring import Keyring

log = structlog.get_logger()

SESSION_COOKIE = "paysaga_codec_session"
SESSION_SECONDS = 8 * 3600
MAX_BODY_BYTES = 8 * 1024 * 1024
# Wrong credentials per client address: a burst of 10, then one every 6 seconds.
FAILURE_BURST = 10
FAILURE_REFILL_PER_S = 10 / 60


def default_ui_origins(settings: Settings) -> list[str]:
    port = settings.temporal_ui_port
    return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]


class Unauthorized(PaysagaError):
    code = "unauthorized"


class TooManyFailures(PaysagaError):
    """Too many wrong credentials from this address; the credential was not checked."""

    code = "rate_limited"

    def __init__(self, retry_after_s: float) -> None:
        super().__init__("too many failed sign-ins from this address; retry later")
        self.retry_after_s = retry_after_s


def _error_json(message: str, code: str) -> bytes:
    return json.dumps({"code": code, "message": message, "field": None}).encode()


def _address(request: Request) -> str:
    # The peer, or what a proxy named by --trusted-proxy says (uvicorn rewrites it).
    return request.client.host if request.client else "unknown"


class _Sessions:
    """Stateless session cookies: `issued.hmac(token, issued)`; rotating the token ends them."""

    def __init__(self, token: str) -> None:
        self._key = hashlib.sha256(b"paysaga/codec-session/v1:" + token.encode()).digest()

    def issue(self, now: float | None = None) -> str:
        issued = str(int(now if now is not None else time.time()))
        return f"{issued}.{self._sign(issued)}"

    def valid(self, cookie: str, now: float | None = None) -> bool:
        issued, _, signature = cookie.partition(".")
        if not issued.isdigit() or not hmac.compare_digest(signature, self._sign(issued)):
            return False
        age = (now if now is not None else time.time()) - int(issued)
        return 0 <= age <= SESSION_SECONDS

    def _sign(self, issued: str) -> str:
        return hmac.new(self._key, issued.encode(), hashlib.sha256).hexdigest()


_LOGIN_PAGE = """<!doctype html><title>paysaga codec server</title>
<form method="post" action="login"><p>Operator token:
<input type="password" name="token" autocomplete="off"> <button>Sign in</button></p></form>"""


def create_app(
    keyring: Keyring,
    token: str,
    ui_origins: Sequence[str],
    *,
    failures: RateLimiter | None = None,
) -> FastAPI:
    if not token:
        raise ValueError("the codec server needs a non-empty operator token")
    codec = EncryptionCodec(keyring)
    sessions = _Sessions(token)
    failures = failures or RateLimiter(FAILURE_BURST, FAILURE_REFILL_PER_S)
    app = FastAPI(title="paysaga codec server", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(PaysagaError)
    async def _paysaga_error(request: Request, exc: PaysagaError) -> JSONResponse:
        if isinstance(exc, TooManyFailures):
            retry_after = str(max(1, int(exc.retry_after_s + 0.999)))
            return JSONResponse(exc.to_dict(), 429, headers={"Retry-After": retry_after})
        status = 401 if isinstance(exc, Unauthorized) else 422
        return JSONResponse(exc.to_dict(), status_code=status)

    def within_budget(address: str) -> None:
        # Checked before the credential, so a throttled guesser learns nothing.
        wait = failures.retry_after(address)
        if wait > 0:
            log.warning("codec.throttled", retry_after_s=round(wait, 1))
            raise TooManyFailures(wait)

    def authorised(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and sessions.valid(cookie):  # an HMAC nobody can guess: never throttled
            return
        if authorization:  # a token can be guessed: wrong ones spend the address's budget
            address = _address(request)
            within_budget(address)
            scheme, _, presented = authorization.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                presented.strip().encode(), token.encode()
            ):
                return
            failures.record_failure(address)
        log.warning("codec.unauthorised", path=request.url.path, has_header=bool(authorization))
        raise Unauthorized("a valid operator token is required (Authorization: Bearer ...)")

    async def convert(request: Request, namespace: str | None, decode: bool) -> JSONResponse:
        body = await request.body()  # at most MAX_BODY_BYTES: BodySizeLimit refused the rest
        try:
            message = ParseDict(_json(body), Payloads())
        except (ParseError, ValueError) as exc:
            return JSONResponse({"code": "invalid_request", "message": str(exc)}, 400)
        except RecursionError:  # json's C parser bounds nesting by the recursion limit
            return JSONResponse({"code": "invalid_request", "message": "JSON nested too deep"}, 400)
        payloads = list(message.payloads)
        try:
            converted = await (codec.decode(payloads) if decode else codec.encode(payloads))
        except DecodeError:
            # Authenticated under our key, yet not a Payload: written by something else.
            return JSONResponse(
                {
                    "code": "payload_not_protobuf",
                    "message": "a decrypted payload is not a Temporal Payload message",
                    "field": None,
                },
                422,
            )
        log.info(
            "codec.converted",
            op="decode" if decode else "encode",
            namespace=namespace,
            count=len(converted),
        )
        return JSONResponse(MessageToDict(Payloads(payloads=converted)))

    # Only the last path segment matters, so the server can be mounted at any depth.
    @app.post("/encode", dependencies=[Depends(authorised)])
    @app.post("/{prefix:path}/encode", dependencies=[Depends(authorised)])
    async def encode(
        request: Request, x_namespace: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        return await convert(request, x_namespace, decode=False)

    @app.post("/decode", dependencies=[Depends(authorised)])
    @app.post("/{prefix:path}/decode", dependencies=[Depends(authorised)])
    async def decode(
        request: Request, x_namespace: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        return await convert(request, x_namespace, decode=True)

    @app.get("/login")
    async def login_page() -> HTMLResponse:
        return HTMLResponse(_LOGIN_PAGE)

    @app.post("/login")
    async def login(request: Request) -> Response:
        address = _address(request)
        within_budget(address)
        try:
            form = parse_qs((await request.body()).decode(errors="replace"), max_num_fields=10)
        except ValueError:
            return JSONResponse({"code": "invalid_request", "message": "malformed form"}, 400)
        presented = (form.get("token") or [""])[0]
        if not hmac.compare_digest(presented.encode(), token.encode()):
            failures.record_failure(address)
            log.warning("codec.login_refused")
            return JSONResponse(Unauthorized("wrong operator token").to_dict(), 401)
        response = RedirectResponse(url=ui_origins[0] if ui_origins else "/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            sessions.issue(),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",  # the UI and this server are same-site (loopback, other port)
            # Over HTTPS (TLS here, or a trusted proxy's X-Forwarded-Proto) never sent in clear.
            secure=request.url.scheme == "https",
        )
        log.info("codec.login")
        return response

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    # Counted as it streams in, refused at the limit without reading the rest.
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES, render=_error_json)
    # CORS outermost, so even a 401 carries the headers the UI needs to read it.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(ui_origins),
        allow_credentials=True,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        max_age=600,
    )
    return app


def _json(body: bytes) -> dict[str, object]:
    value = json.loads(body or b"{}")
    if not isinstance(value, dict):
        raise ValueError("body must be a JSON object with a 'payloads' list")
    return value


def app_from_settings(settings: Settings, ui_origins: Sequence[str] | None = None) -> FastAPI:
    return create_app(
        Keyring.from_settings(settings),
        settings.codec_token.get_secret_value(),
        list(ui_origins) if ui_origins else default_ui_origins(settings),
    )


def main(argv: Sequence[str] | None = None) -> None:
    from paysaga.config.logging import configure_logging, uvicorn_logging
    from paysaga.config.startup import settings_or_exit

    prog = "python -m paysaga.security.codec_server"
    settings = settings_or_exit(prog)  # production fails closed before listening
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.codec_port)
    parser.add_argument(
        "--ui-origin",
        action="append",
        dest="ui_origins",
        help="Web UI origin allowed by CORS (repeatable); default: the dev server's UI",
    )
    parser.add_argument(
        "--trusted-proxy",
        default="",
        help="comma-separated addresses of a TLS-terminating proxy whose X-Forwarded-For/"
        "-Proto are believed (default: none; the peer address and scheme are used)",
    )
    parser.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    args = parser.parse_args(argv)
    configure_logging(settings.log_format, settings.log_level)
    app = app_from_settings(settings, args.ui_origins)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        # Forwarded headers only from a named proxy: anyone else could pick the address
        # the throttle counts against, or claim HTTPS.
        proxy_headers=bool(args.trusted_proxy),
        forwarded_allow_ips=args.trusted_proxy or None,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        **uvicorn_logging(),
    )


if __name__ == "__main__":
    main()
