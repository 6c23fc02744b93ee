"""`paysaga onboard --sandbox` then `paysaga pay --bank-account` (issue 15 items 1 and 2), as
processes, against the dev server, PostgreSQL and the sandboxes, with the production
workers polling the default task queues (where the CLI starts its workflows)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator

import pytest

from paysaga.client.control.db import control_engine
from paysaga.client.control.merchants import MerchantStore
from tests.workflows.engine import Engine, engine, engine_sandboxes, engine_settings  # noqa: F401
from workers.build import QUEUE_KINDS, QueueNames, build_workers
from workers.settings import WorkerSettings


@pytest.fixture
async def default_queue_workers(engine: Engine) -> AsyncIterator[Engine]:  # noqa: F811
    """The engine's workers again, on the queue names the CLI uses."""
    workers = build_workers(
        engine.client,
        engine.settings,
        QUEUE_KINDS,
        engine.deps,
        names=QueueNames(),
        worker_settings=WorkerSettings(graceful_shutdown_s=1),
    )
    runs = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield engine
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*runs, return_exceptions=True)


async def paysaga(engine: Engine, merchant_id: str, *args: str) -> tuple[int, str]:  # noqa: F811
    """Run the CLI as a process (the workers need this event loop free meanwhile)."""
    settings = engine.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSAGA_")}
    env.update(
        {
            "PAYSAGA_DATABASE_URLS": ",".join(settings.shard_urls()),
            "PAYSAGA_TEMPORAL_ADDRESS": settings.resolved_temporal_address,
            "PAYSAGA_STRIPE_API_BASE": settings.stripe_base(),
            "PAYSAGA_BRAINTREE_BASE_URL": settings.braintree_base(),
            "PAYSAGA_PLAID_BASE_URL": settings.plaid_base(),
            "PAYSAGA_MERCHANT_ID": merchant_id,
            "COLUMNS": "250",
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "paysaga.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_cli_onboard_then_pay_from_the_bank_account(
    default_queue_workers: Engine,
) -> None:
    engine = default_queue_workers  # noqa: F811
    db = control_engine(engine.settings.shard_urls()[0], pool_size=1)
    try:
        merchant = (await MerchantStore(db).create_merchant("CLI Payee")).merchant_id
    finally:
        await db.dispose()

    code, out = await paysaga(
        engine,
        merchant,
        "onboard",
        "--customer",
        "cust-cli",
        "--name",
        "Alberta Charleson",
        "--email",
        "a@example.com",
        "--sandbox",
    )
    assert code == 0, out
    found = re.search(r"bank account (bank_[0-9a-f]{24})\s+verified", out)
    assert found, out
    bank_account_id = found.group(1)

    code, out = await paysaga(
        engine, merchant, "pay", "--amount", "1500", "--customer", "cust-cli",
        "--bank-account", bank_account_id, "--balance-check",
    )  # fmt: skip
    assert code == 0, out
    assert re.search(r"(processing|settled)\s+15\.00 USD\s+via stripe", out), out
    assert f"from {bank_account_id}" in out

    code, out = await paysaga(engine, merchant, "bank-accounts", "list", "--customer", "cust-cli")
    assert code == 0 and bank_account_id in out and "verified" in out, out

    # `--gateway ach` names the missing option instead of "unknown gateway 'ach'".
    code, out = await paysaga(
        engine, merchant, "pay", "--amount", "100", "--customer", "cust-cli", "--gateway", "ach"
    )
    assert code == 1 and "--bank-account" in out and "Traceback" not in out, out
    # Another customer's bank account: refused, naming the field, no traceback.
    code, out = await paysaga(
        engine, merchant, "pay", "--amount", "100", "--customer", "cust-other",
        "--bank-account", bank_account_id,
    )  # fmt: skip
    assert code == 1 and "bank_account_customer_mismatch" in out, out
    assert "Traceback" not in out
