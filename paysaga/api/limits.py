"""Refuse request bodies over a limit before anything parses them (413, JSON error shape)."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024


def _body(message: str, code: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()


# Renders a refusal body from (message, code); the codec server has its own shape.
ErrorRenderer = Callable[[str, str], bytes]


class BodySizeLimit:
    """ASGI middleware: checks Content-Length, then buffers at most `max_bytes` of body.

    Buffering (bodies are small JSON) also covers chunked uploads without a length:
    the body is counted as it arrives and refused at the limit, so memory stays at
    `max_bytes` per request whatever is sent. A refusal closes the connection, so
    the server stops reading the rest of the body.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, render: ErrorRenderer = _body
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = self.render(f"request body exceeds {self.max_bytes} bytes", "payload_too_large")
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                if not value.isdigit():
                    await _reply(
                        send, 400, self.render("Content-Length is not a number", "bad_request")
                    )
                    return
                if int(value) > self.max_bytes:
                    await _reply(send, 413, too_large)
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _reply(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _reply(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The body was left unread: close rather than read it to reuse the connection.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
