"""`paysaga keys`: generate a key, rotate, re-wrap the secrets at rest, status; API keys:
issue, list and revoke on a real PostgreSQL.

Sync tests: the commands call asyncio.run themselves.
"""

from __future__ import annotations

import asyncio
import base64

from typer.testing import CliRunner

from ledger.migrate import upgrade
from paysaga.cli.main import app
from paysaga.client.control.db import control_engine
from paysaga.client.control.keys import ApiKeyStore, Principal
from paysaga.client.control.merchants import MerchantStore
from paysaga.config.settings import load_settings
from paysaga.security.api_keys import key_id_of
from paysaga.security.keyring import Keyring
from paysaga.security.secret_store import SecretKind, SecretStore
from tests.security.conftest import key_spec

runner = CliRunner()


def test_generate_prints_a_usable_key() -> None:
    result = runner.invoke(app, ["keys", "generate", "--id", "k2026"])
    assert result.exit_code == 0, result.output
    line = result.stdout.strip().splitlines()[0]
    key_id, _, material = line.partition(":")
    assert key_id == "k2026" and len(base64.b64decode(material)) == 32
    settings = load_settings(encryption_keys=line)  # accepted by the settings validator
    assert Keyring.from_settings(settings).current.key_id == "k2026"
    other = runner.invoke(app, ["keys", "generate"]).stdout.strip().splitlines()[0]
    assert other.split(":")[1] != material
    assert runner.invoke(app, ["keys", "generate", "--id", "a:b"]).exit_code != 0


def test_rotate_then_rewrap_via_cli(fresh_database: str, key1, key2) -> None:
    upgrade(fresh_database, "security@head")
    store = SecretStore(fresh_database, Keyring([key1]))
    asyncio.run(store.put("plaid:item-9", SecretKind.PLAID_ACCESS_TOKEN, "access-sandbox-item9"))
    env = {
        "PAYSAGA_DATABASE_URLS": fresh_database,
        "PAYSAGA_ENCRYPTION_KEYS": f"{key_spec(key2)},{key_spec(key1)}",
    }
    result = runner.invoke(app, ["keys", "rewrap"], env=env)
    assert result.exit_code == 0, result.output
    assert "re-wrapped 1 record" in result.output
    status = runner.invoke(app, ["keys", "status"], env=env)
    assert status.exit_code == 0 and "k2" in status.output and "encrypts" in status.output
    assert key_spec(key2).split(":")[1] not in status.output + result.output
    new_only = SecretStore(fresh_database, Keyring([key2]))
    assert asyncio.run(new_only.get_text("plaid:item-9")) == "access-sandbox-item9"


def test_unreachable_database_is_one_clear_line(key1) -> None:
    env = {
        "PAYSAGA_DATABASE_URLS": "postgresql://postgres@127.0.0.1:1/none",
        "PAYSAGA_ENCRYPTION_KEYS": key_spec(key1),
    }
    result = runner.invoke(app, ["keys", "rewrap"], env=env)
    assert result.exit_code == 2
    assert "PAYSAGA_DATABASE_URLS" in result.output and "Traceback" not in result.output


# ------------------------------------------------- API keys: issue, list, revoke (issue 14)
def test_api_keys_issue_list_revoke_on_postgres(fresh_database: str) -> None:
    upgrade(fresh_database, "api@head")
    engine = control_engine(fresh_database, pool_size=1)

    async def new_merchant() -> str:
        try:
            return (await MerchantStore(engine).create_merchant("Keys Ltd")).merchant_id
        finally:
            await engine.dispose()

    merchant_id = asyncio.run(new_merchant())
    env = {"PAYSAGA_DATABASE_URLS": fresh_database}
    issued = runner.invoke(app, ["keys", "issue", "--merchant", merchant_id], env=env)
    assert issued.exit_code == 0, issued.output
    merchant_key = issued.stdout.strip().splitlines()[-1]
    operator = runner.invoke(app, ["keys", "issue", "--operator", "--label", "ops"], env=env)
    assert operator.exit_code == 0, operator.output
    operator_key = operator.stdout.strip().splitlines()[-1]
    merchant_key_id, operator_key_id = key_id_of(merchant_key), key_id_of(operator_key)
    assert merchant_key_id and operator_key_id

    assert _principal(fresh_database, merchant_key) == Principal(
        merchant_key_id, "merchant", merchant_id
    )
    assert _principal(fresh_database, operator_key) == Principal(operator_key_id, "operator", None)

    listed = runner.invoke(app, ["keys", "list"], env={**env, "COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    for text in (merchant_key_id, operator_key_id, merchant_id, "operator", "ops"):
        assert text in listed.output
    assert merchant_key not in listed.output and operator_key not in listed.output

    revoked = runner.invoke(app, ["keys", "revoke", merchant_key_id], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked {merchant_key_id}" in revoked.output
    assert _principal(fresh_database, merchant_key) is None
    again = runner.invoke(app, ["keys", "revoke", merchant_key_id], env=env)
    assert again.exit_code == 0  # idempotent
    active = runner.invoke(app, ["keys", "list"], env={**env, "COLUMNS": "250"})
    assert merchant_key_id not in active.output and operator_key_id in active.output
    everything = runner.invoke(app, ["keys", "list", "--all"], env={**env, "COLUMNS": "250"})
    assert merchant_key_id in everything.output


def test_api_keys_cli_errors_name_the_field(fresh_database: str) -> None:
    upgrade(fresh_database, "api@head")
    env = {"PAYSAGA_DATABASE_URLS": fresh_database}
    both = runner.invoke(app, ["keys", "issue"], env=env)
    assert both.exit_code == 1 and "--merchant" in both.output
    unknown = runner.invoke(app, ["keys", "issue", "--merchant", "mer_0000000000000000"], env=env)
    assert unknown.exit_code == 1 and "merchant_id" in unknown.output
    bad_id = runner.invoke(app, ["keys", "revoke", "not-a-key"], env=env)
    assert bad_id.exit_code == 1 and "key_id" in bad_id.output
    missing = runner.invoke(app, ["keys", "revoke", "psk_test_0000000000000000"], env=env)
    assert missing.exit_code == 1 and "api_key_not_found" in missing.output
    for result in (both, unknown, bad_id, missing):
        assert "Traceback" not in result.output


def _principal(dsn: str, presented: str) -> Principal | None:
    async def check() -> Principal | None:
        engine = control_engine(dsn, pool_size=1)
        try:
            return await ApiKeyStore(engine).authenticate(presented)
        finally:
            await engine.dispose()

    return asyncio.run(check())
