"""`paysaga keys`: generate a key, rotate, re-wrap the secrets at rest, status.

Sync tests: the commands call asyncio.run themselves.
"""

from __future__ import annotations

import asyncio
import base64

from typer.testing import CliRunner

from ledger.migrate import upgrade
from paysaga.cli.main import app
from paysaga.config.settings import load_settings
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
