"""A response that starts and then drops the connection (used by both Stripe and Plaid sandboxes).

The "timeout after success" fault must never look like a clean 5xx: a client
that waited long enough would read a 500 as "nothing happened" and might fail
over. Announcing a body and closing before it arrives gives every client a
broken read, i.e. an outcome it cannot know.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class DroppedResponse(Response):
    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id": ', "more_body": True})
        # Returning with the body incomplete makes the server close the connection.
