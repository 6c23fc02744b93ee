"""Issue 14 acceptance: no card number anywhere paysaga stores or answers.

A stack of its own (embedded PostgreSQL, the Temporal dev server on a SQLite file, the
sandboxes, the production workers and the API on a socket) runs a demo-like flow through
the API: an onboarding, card payments on both gateways (captured, manual capture,
declined, a decline whose gateway message echoes a card number), refunds and a
cancellation, then reconciliation. Every storing field and header is also sent a test
card number. Then every store is searched with the Luhn-checked pattern (domain.pan)
and for the exact numbers sent: Temporal's SQLite file (and its WAL), every history
decoded with the codec, a pg_dump of every database, the logs and every HTTP response.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from temporalio.client import Client

from ledger.migrate import upgrade_all
from paysaga.client import PaysagaClient
from paysaga.client.control.db import control_engine
from paysaga.client.control.keys import ApiKeyStore
from paysaga.client.control.merchants import IssuedKey, MerchantStore
from paysaga.config.logging import configure_logging
from paysaga.config.settings import Settings, load_settings
from paysaga.config.temporal import connect_client
from paysaga.gateways.plaid_client import PlaidClient
from paysaga.sandbox import testdata
from paysaga.sandbox.runner import SandboxServers
from paysaga.stack.ports import free_port
from paysaga.stack.postgres import EmbeddedPostgres
from paysaga.stack.temporal import TemporalDevServer
from tests.api.conftest import ApiServer, serve_api
from tests.security.pan_scan import decoded_history_texts, pans_in, pans_in_file, pans_in_sqlite
from tests.security.test_pan_refused import (
    AMEX,
    CASES,
    MASTERCARD,
    VISA,
    VISA_DEBIT,
    is_platform_operation,
)
from workers.build import QUEUE_KINDS, build_workers
from workers.deps import Dependencies
from workers.settings import WorkerSettings

# Every card number this test sends, exactly as sent: found verbatim = leaked, whatever
# the detector thinks.
SENT = (
    VISA,
    MASTERCARD,
    VISA_DEBIT,
    AMEX,
    "5555-5555-5555-4444",
    "4000 0566 5566 5556",
    testdata.ECHOED_CARD_NUMBER,
)
FINAL = {"captured", "failed", "canceled", "awaiting_capture", "partially_refunded", "refunded"}


@dataclass
class Stack:
    settings: Settings
    api: ApiServer
    pg: EmbeddedPostgres
    temporal_dir: Path
    log_files: list[Path]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Servers of its own, so every database and the SQLite file hold only this run."""
    pg = EmbeddedPostgres(tmp_path / "pg", free_port())
    temporal_dir = tmp_path / "temporal"
    temporal = TemporalDevServer(
        port=free_port(),
        ui_port=None,
        db_file=temporal_dir / "temporal.db",
        log_file=tmp_path / "temporal-server.log",
    )
    pg.start()
    try:
        temporal.start()
        try:
            dsns = [pg.ensure_database(f"scan_shard_{i}") for i in range(2)]
            upgrade_all(dsns)
            with SandboxServers() as sandboxes:
                settings = load_settings(
                    database_urls=dsns,
                    temporal_address=temporal.address,
                    stripe_api_base=sandboxes.stripe_url,
                    braintree_base_url=sandboxes.braintree_url,
                    plaid_base_url=sandboxes.plaid_url,
                )
                with serve_api(settings, sandboxes) as api:
                    logs = [pg.log_file, tmp_path / "temporal-server.log"]
                    yield Stack(settings, api, pg, temporal_dir, logs)
        finally:
            temporal.stop()
    finally:
        pg.stop(mode="immediate")


@dataclass
class Http:
    """The API as the merchant sees it; every response is kept for the scan."""

    http: httpx.AsyncClient
    responses: list[str] = field(default_factory=list)

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str | None = None,
        api_key: str | None = None,
    ) -> httpx.Response:
        """`api_key`: another caller's (an operator's) instead of the merchant's."""
        headers = {"Idempotency-Key": key} if key else {}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        response = await self.http.request(method, path, json=body, headers=headers)
        self.responses.append(f"{response.status_code} {response.headers} {response.text}")
        return response

    async def until(self, path: str, statuses: set[str], timeout_s: float = 40) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            body: dict[str, Any] = (await self.call("GET", path)).json()
            if body.get("status") in statuses:
                return body
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{path}: {body}")
            await asyncio.sleep(0.2)


@pytest.fixture
async def workers(stack: Stack) -> AsyncIterator[Client]:
    """The production workers on the production queue names (this Temporal is ours)."""
    client = await connect_client(stack.settings)
    deps = await Dependencies.open(stack.settings, gateways=True, ledger=True)
    running = build_workers(
        client,
        stack.settings,
        QUEUE_KINDS,
        deps,
        worker_settings=WorkerSettings(graceful_shutdown_s=1, stripe_rate=200, braintree_rate=200),
    )
    tasks = [asyncio.create_task(w.run()) for w in running]
    try:
        yield client
    finally:
        await asyncio.gather(*(w.shutdown() for w in running))
        await asyncio.gather(*tasks, return_exceptions=True)
        await deps.close()


def _payment(method: str, gateway: str, amount: int, capture: bool = True) -> dict[str, Any]:
    return {
        "amount_minor": amount,
        "currency": "USD",
        "customer_id": "cus-scan",
        "payment_method": method,
        "gateway": gateway,
        "capture": capture,
        "description": f"scan {gateway} {amount}",
    }


async def _onboard(api: Http, settings: Settings) -> None:
    body = {
        "customer_id": "cus-scan",
        "email": "alberta@example.com",
        "name": testdata.PLAID_SANDBOX_OWNER_NAME,
    }
    started = await api.call("POST", "/v1/onboardings", body, key="onboard-1")
    assert started.status_code == 201, started.text
    plaid = PlaidClient.from_settings(settings)
    try:
        token = await asyncio.to_thread(plaid.sandbox_public_token, testdata.PLAID_INSTITUTION_ID)
    finally:
        plaid.close()
    path = f"/v1/onboardings/{started.json()['id']}"
    handed = await api.call("POST", f"{path}/public_token", {"public_token": token})
    assert handed.status_code == 200, handed.text
    await api.until(path, {"completed"})


async def _pay(api: Http) -> dict[str, str]:
    """The demo's payments through the API; returns payment ids by label."""
    plans = {
        "stripe": (_payment(testdata.STRIPE_PM_SUCCESS, "stripe", 2500), "captured"),
        "mastercard": (
            _payment(testdata.STRIPE_PM_SUCCESS_MASTERCARD, "stripe", 4200),
            "captured",
        ),
        "manual": (_payment(testdata.STRIPE_PM_SUCCESS, "stripe", 9900, False), "awaiting_capture"),
        "to_cancel": (
            _payment(testdata.BRAINTREE_NONCE_VISA, "braintree", 1200, False),
            "awaiting_capture",
        ),
        "braintree": (_payment(testdata.BRAINTREE_NONCE_VISA, "braintree", 1999), "captured"),
        "hard_decline": (
            _payment(testdata.BRAINTREE_NONCE_HARD_DECLINE, "braintree", 3000),
            "failed",
        ),
        "echo": (_payment(testdata.STRIPE_PM_DECLINE_ECHOES_CARD, "stripe", 700), "failed"),
    }
    ids: dict[str, str] = {}
    for label, (body, _) in plans.items():
        created = await api.call("POST", "/v1/payments", body, key=f"scan-{label}")
        assert created.status_code == 201, created.text
        ids[label] = created.json()["id"]
    for label, (_, expected) in plans.items():
        view = await api.until(f"/v1/payments/{ids[label]}", FINAL)
        assert view["status"] == expected, view
    captured = await api.call("POST", f"/v1/payments/{ids['manual']}/capture", key="cap-1")
    assert captured.status_code == 200 and captured.json()["status"] == "captured", captured.text
    canceled = await api.call("POST", f"/v1/payments/{ids['to_cancel']}/cancel", key="can-1")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled", canceled.text
    for label, amount, key in (("stripe", 1000, "ref-1"), ("braintree", 1999, "ref-2")):
        body = {"amount_minor": amount, "reason": "requested by customer"}
        refunded = await api.call("POST", f"/v1/payments/{ids[label]}/refunds", body, key=key)
        assert refunded.status_code == 201, refunded.text
    return ids


async def _refused(api: Http, merchant_id: str, payment_id: str, operator_key: str) -> int:
    """Every storing field and header sent a card number; returns how many were refused."""
    refused = 0
    for method, path, body, key, _ in CASES:
        url = path.format(mid=merchant_id, pid=payment_id)
        caller = operator_key if is_platform_operation(path) else None
        response = await api.call(method, url, body, key=key, api_key=caller)
        refused += response.json().get("error", {}).get("code") == "card_number_not_accepted"
    # Inputs that are not stored but are quoted back by error messages.
    await api.call("GET", f"/v1/payments?status={VISA}")
    await api.call("GET", f"/v1/payments/payment-{merchant_id}.{MASTERCARD}")
    return refused


def _pg_dumps(pg: EmbeddedPostgres) -> dict[str, str]:
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute("SELECT datname FROM pg_database WHERE datallowconn").fetchall()
        ]
    dumps = {}
    for name in names:
        dump = subprocess.run(
            [str(pg.tool("pg_dump")), f"--dbname={pg.url(name)}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        dumps[name] = dump.stdout
    return dumps


async def test_no_card_number_in_any_store(
    stack: Stack,
    workers: Client,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    log_file = tmp_path / "paysaga.log"
    with open(log_file, "a") as stream:
        configure_logging("json", "INFO", stream)
        try:
            engine = control_engine(stack.settings.shard_urls()[0])
            try:
                issued: IssuedKey = await MerchantStore(engine).create_merchant("Scan Merchant")
                operator_key = await ApiKeyStore(engine).issue(operator=True, label="scan")
            finally:
                await engine.dispose()
            headers = {"Authorization": f"Bearer {issued.api_key}"}
            async with httpx.AsyncClient(
                base_url=stack.api.url, headers=headers, timeout=30
            ) as http:
                api = Http(http)
                await _onboard(api, stack.settings)
                ids = await _pay(api)
                refused = await _refused(
                    api, issued.merchant_id, ids["stripe"], operator_key.api_key
                )
                async with httpx.AsyncClient(timeout=10) as sandbox:
                    for base in (stack.api.sandboxes.stripe_url, stack.api.sandboxes.braintree_url):
                        (await sandbox.post(f"{base}/__sandbox/settle", json={})).raise_for_status()
                # Reconciliation through the client (an operator's run, not a merchant's).
                operator = PaysagaClient(workers)
                started = await operator.reconcile(datetime.now(UTC).date())
                await operator.reconciliation_result(
                    started.reconciliation_id, timedelta(seconds=60)
                )
                await api.call("GET", "/v1/payments?limit=100")
                for payment_id in ids.values():
                    await api.call("GET", f"/v1/payments/{payment_id}")
        finally:
            configure_logging("json", "INFO")

    found: dict[str, list[str]] = {}
    # HTTP responses.
    found["responses"] = [hit for text in api.responses for hit in pans_in(text)]
    # Temporal's persistence: every cell of the SQLite database, then the raw files (the
    # database, its WAL: also rows deleted since), where only fragments of this run's
    # generated ids (torn at a page boundary) are let pass.
    cells, found["temporal sqlite"] = pans_in_sqlite(stack.temporal_dir / "temporal.db")
    assert cells > 1000
    temporal_files = sorted(p for p in stack.temporal_dir.iterdir() if p.is_file())
    sqlite = b"".join(p.read_bytes() for p in temporal_files).decode("latin-1")
    assert ids["echo"] in sqlite  # the right store: it holds this run's payments
    generated = [issued.merchant_id] + [e.run_id async for e in workers.list_workflows("")]
    found["temporal files"] = [hit for p in temporal_files for hit in pans_in_file(p, generated)]
    # Every history, decoded with the codec (payloads, failures, markers, search attributes).
    histories: list[str] = []
    async for execution in workers.list_workflows(""):
        histories += await decoded_history_texts(workers, execution.id)
        histories.append(
            str((await workers.get_workflow_handle(execution.id).describe()).raw_description)
        )
    found["histories"] = [hit for text in histories for hit in pans_in(text)]
    # PostgreSQL: every database, dumped.
    dumps = _pg_dumps(stack.pg)
    assert any(ids["stripe"] in dump for dump in dumps.values())  # the ledger holds this run
    found["pg_dump"] = [f"{db}: {hit}" for db, text in dumps.items() for hit in pans_in(text)]
    # Logs: ours, the servers', and whatever reached stdout/stderr.
    captured = capfd.readouterr()
    found["logs"] = [hit for p in [log_file, *stack.log_files] for hit in pans_in_file(p)]
    found["logs"] += pans_in(captured.out) + pans_in(captured.err)
    assert log_file.stat().st_size > 0

    leaks = {where: hits for where, hits in found.items() if hits}
    counts = {where: len(hits) for where, hits in leaks.items()}
    assert not leaks, f"card numbers found {counts}: " + repr({w: h[:3] for w, h in leaks.items()})
    assert refused == len(CASES)
    assert any("[PAN ****5556]" in text for text in histories)  # the echo was there, masked
    everything = "\n".join(
        [*api.responses, sqlite, *histories, *dumps.values(), captured.out, captured.err]
        + [p.read_text(errors="replace") for p in [log_file, *stack.log_files]]
    )
    verbatim = [card for card in SENT if card in everything]
    assert verbatim == [], verbatim
