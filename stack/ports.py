"""Port helpers: find a free loopback port, and say clearly when one is taken."""

from __future__ import annotations

import socket

from domain.errors import ConfigurationError


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
