"""Port helpers: find a free loopback port, and say clearly when one is taken."""

from __future__ import annotations

import socket

from paysaga.domain.errors import ConfigurationError

# Every port setting the embedded stack binds: an isolated stack (tests, benchmarks)
# sets each of them to a free port.
PORT_SETTINGS = (
    "PAYSAGA_POSTGRES_PORT",
    "PAYSAGA_TEMPORAL_PORT",
    "PAYSAGA_TEMPORAL_UI_PORT",
    "PAYSAGA_API_PORT",
    "PAYSAGA_CODEC_PORT",
    "PAYSAGA_SANDBOX_STRIPE_PORT",
    "PAYSAGA_SANDBOX_BRAINTREE_PORT",
    "PAYSAGA_SANDBOX_PLAID_PORT",
)


def free_port() -> int:
    """A loopback port the kernel will not hand to anyone else for about a minute.

    Ports are chosen well before the services that bind them start (an isolated stack
    picks all of its ports first). A port that is merely closed again can meanwhile be
    given to another `bind(port 0)` (the Temporal dev server picks its HTTP, metrics and
    internal ports that way) or used as the local end of an outgoing connection; the
    service then either cannot bind or, worse, a readiness probe finds the other
    listener. So, as Temporal's own freeport does, we accept one connection on the port
    and close it from the server side first: that end stays in TIME_WAIT, which keeps
    the kernel from reallocating the port, while an explicit bind with SO_REUSEADDR
    (uvicorn, PostgreSQL and Go all set it) still succeeds.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = int(listener.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            accepted, _ = listener.accept()
            accepted.close()  # the server side closes first, so it holds the TIME_WAIT
    return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def require_free(port: int, setting: str) -> None:
    if port_in_use(port):
        raise ConfigurationError(
            f"port {port} is already taken by another process; set {setting} to a free port",
            field=setting,
        )
