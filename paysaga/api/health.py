"""`/healthz` (the process answers) and `/readyz` (Temporal and the shards answer)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from paysaga.api.state import AppState, app_state

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check_temporal(state: AppState) -> str | None:
    try:
        await asyncio.wait_for(
            state.temporal.workflow_service.get_system_info(GetSystemInfoRequest()),
            CHECK_TIMEOUT_S,
        )
    except Exception as exc:
        return type(exc).__name__
    return None


async def _check_shard(dsn: str) -> str | None:
    try:
        async with await psycopg.AsyncConnection.connect(dsn, connect_timeout=3) as conn:
            await asyncio.wait_for(conn.execute("SELECT 1"), CHECK_TIMEOUT_S)
    except Exception as exc:
        return type(exc).__name__
    return None


@router.get("/readyz")
async def readyz(state: AppState = Depends(app_state)) -> JSONResponse:
    """Ready: Temporal and every shard answer. Degraded (still 200): a shard other than
    0 is down, so only the payments on it wait. Not ready (503): Temporal or shard 0
    (the control store and account directory every request needs) is down."""
    shards = state.settings.shard_urls()
    results = await asyncio.gather(_check_temporal(state), *(_check_shard(d) for d in shards))
    checks: dict[str, Any] = {"temporal": results[0] or "ok"}
    for index, result in enumerate(results[1:]):
        checks[f"shard_{index}"] = result or "ok"
    if all(result is None for result in results[:2]):  # Temporal and shard 0
        degraded = [f"shard_{i}" for i, result in enumerate(results[1:]) if result is not None]
        for name in degraded:
            checks[name] = f"degraded: {checks[name]}"
        return JSONResponse({"status": "degraded" if degraded else "ready", "checks": checks})
    failing = ", ".join(name for name, value in checks.items() if value != "ok")
    return JSONResponse(
        {
            "error": {"code": "not_ready", "message": f"not ready: {failing}", "field": None},
            "checks": checks,
        },
        status_code=503,
    )
