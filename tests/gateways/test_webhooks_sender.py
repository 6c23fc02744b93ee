"""The shared background webhook sender: delay, duplicates, reordering, signing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from paysaga.sandbox.faults import FaultConfig, FaultInjector
from paysaga.sandbox.webhook_sender import WebhookSender
from paysaga.stack.ports import free_port


class _Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str], float]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.received.append((body, dict(self.headers.items()), time.monotonic()))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_delivers_in_background_with_signed_headers(receiver: _Receiver) -> None:
    sender = WebhookSender(FaultInjector())
    started = time.monotonic()
    sender.send(
        receiver.url,
        b'{"id":"evt_1"}',
        {"X-A": "1"},
        "evt_1",
        sign=lambda b: {"X-Sig": str(len(b))},
    )
    assert time.monotonic() - started < 0.05  # never blocks the caller
    assert sender.flush(5)
    sender.close()
    [(body, headers, _)] = receiver.received
    assert body == b'{"id":"evt_1"}'
    assert headers["X-A"] == "1" and headers["X-Sig"] == "14"


def test_delay_and_duplicates(receiver: _Receiver) -> None:
    sender = WebhookSender(
        FaultInjector(FaultConfig(webhook_delay_s=0.3, webhook_duplicate_rate=1.0, seed=1))
    )
    sent_at = time.monotonic()
    sender.send(receiver.url, b"x", {}, "evt_dup")
    assert sender.flush(5)
    sender.close()
    assert [b for b, _, _ in receiver.received] == [b"x", b"x"]
    assert receiver.received[0][2] - sent_at >= 0.3


def test_reorder_lets_later_events_overtake(receiver: _Receiver) -> None:
    injector = FaultInjector(FaultConfig(webhook_reorder_rate=1.0, seed=1))
    sender = WebhookSender(injector)
    sender.send(receiver.url, b"first", {}, "evt_a")
    injector.configure({})
    sender.send(receiver.url, b"second", {}, "evt_b")
    assert sender.flush(5)
    sender.close()
    assert [b for b, _, _ in receiver.received] == [b"second", b"first"]
