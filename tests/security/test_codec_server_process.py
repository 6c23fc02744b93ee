"""The codec server as operators run it (`python -m paysaga.security.codec_server`),
over real sockets: an oversized stream is refused at the limit with bounded memory,
and forwarded headers are believed only from a proxy named by --trusted-proxy.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from paysaga.stack.ports import free_port

TOKEN = "operator-token-for-process-tests"
MIB = 1024 * 1024
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class CodecProcess:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def status_kib(self, field: str) -> int:
        """VmRSS (now) or VmHWM (peak) of the server process, in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.process.pid}/status")


@contextmanager
def codec_process(tmp_path: Path, *args: str) -> Iterator[CodecProcess]:
    port = free_port()
    env = {
        **os.environ,
        "PAYSAGA_CODEC_TOKEN": TOKEN,
        "PAYSAGA_LOG_FORMAT": "json",
        "PAYSAGA_ENV": "development",
    }
    log = (tmp_path / f"codec-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "paysaga.security.codec_server", "--port", str(port), *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = CodecProcess(process, port)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / f"codec-{port}.log").read_text()
            try:
                if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "codec server did not start"
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def read_response(sock: socket.socket) -> bytes:
    """Whatever the server sent before it closed (a reset after the answer is fine)."""
    data = b""
    sock.settimeout(10)
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except OSError:
        pass
    return data


def stream_chunked(port: int, total: int) -> tuple[int, bytes]:
    """POST /decode with a chunked body of `total` bytes, stopping early if answered.

    Returns (bytes sent, the response). The server is authenticated, so the body is
    what it has to deal with.
    """
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        (
            "POST /decode HTTP/1.1\r\nHost: codec\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
    )
    chunk = b" " * 65536
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    sent = 0
    try:
        while sent < total:
            if select.select([sock], [], [], 0)[0]:
                break  # answered before the body ended
            try:
                sock.sendall(framed)
            except OSError:
                break  # the server closed its side
            sent += len(chunk)
        if sent >= total:
            sock.sendall(b"0\r\n\r\n")
        return sent, read_response(sock)
    finally:
        sock.close()


def test_a_200_mb_stream_is_refused_at_the_limit_with_bounded_memory(tmp_path: Path) -> None:
    with codec_process(tmp_path) as server:
        warm = httpx.post(
            f"{server.url}/decode",
            json={"payloads": []},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert warm.status_code == 200
        before = server.status_kib("VmRSS")
        sent, response = stream_chunked(server.port, 200 * MIB)
        peak = server.status_kib("VmHWM")
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    grown_mib = (peak - before) / 1024
    assert grown_mib < 50, f"RSS grew {grown_mib:.0f} MiB (from {before // 1024} MiB)"
    # The server stopped reading at the limit: most of the 200 MB was never sent.
    assert sent < 100 * MIB, f"{sent // MIB} MiB sent before the answer"
    assert b'"payload_too_large"' in response


def test_a_declared_400_mb_body_is_refused_before_any_of_it_is_read(tmp_path: Path) -> None:
    with codec_process(tmp_path) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        try:
            sock.sendall(
                (
                    "POST /decode HTTP/1.1\r\nHost: codec\r\n"
                    f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {400 * MIB}\r\n\r\n"
                ).encode()
            )
            response = read_response(sock)
        finally:
            sock.close()
    assert response.startswith(b"HTTP/1.1 413"), response[:200]


def _secure(response: httpx.Response) -> bool:
    parts = [p.strip().lower() for p in response.headers["set-cookie"].split(";")]
    return "secure" in parts


@pytest.mark.parametrize("trusted", [False, True])
def test_forwarded_headers_only_from_a_trusted_proxy(tmp_path: Path, trusted: bool) -> None:
    args = ("--trusted-proxy", "127.0.0.1") if trusted else ()
    with codec_process(tmp_path, *args) as server, httpx.Client(base_url=server.url) as http:
        https = {**FORM, "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
        login = http.post("/login", content=f"token={TOKEN}".encode(), headers=https)
        assert login.status_code == 303
        # HTTPS claimed by a trusted proxy: Secure; by anyone else: not believed.
        assert _secure(login) is trusted
        assert "httponly" in login.headers["set-cookie"].lower()
        # Wrong tokens, each "from" another address: only a trusted proxy picks the
        # address the budget is counted against.
        statuses = [
            http.post(
                "/login",
                content=b"token=guess",
                headers={**FORM, "X-Forwarded-For": f"203.0.113.{i}"},
            ).status_code
            for i in range(12)
        ]
    assert statuses == ([401] * 12 if trusted else [401] * 10 + [429] * 2)
