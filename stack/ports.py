"""Port helpers: find a free loopback port, and say clearly when one is taken."""

from __future__ import annotations

import socket

from domain.errors import ConfigurationError

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
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
