"""The API boots and stays ready, degraded, while a ledger shard other than 0 is down."""

from __future__ import annotations

from paysaga.config.settings import Settings
from paysaga.sandbox.runner import SandboxServers
from tests.api.conftest import serve_api
from tests.ledger.conftest import allow_connections


def test_api_starts_with_a_shard_down_and_reports_it_degraded(
    api_settings: Settings, sandboxes: SandboxServers
) -> None:
    down = api_settings.shard_urls()[1]
    allow_connections(down, False)
    try:
        with serve_api(api_settings, sandboxes) as server, server.client() as http:
            ready = http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "degraded"
            checks = ready.json()["checks"]
            assert checks["shard_0"] == "ok" and checks["shard_1"].startswith("degraded")
            allow_connections(down, True)
            assert http.get("/readyz").json()["status"] == "ready"
    finally:
        allow_connections(down, True)
