"""A bad configuration ends with one clear message naming the setting, not a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from paysaga.stack.ports import free_port


def _paysaga(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSAGA_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "paysaga.cli", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _assert_clean_failure(result: subprocess.CompletedProcess[str], setting: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert setting in output, output
    assert "Traceback" not in output, output


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PAYSAGA_ENCRYPTION_KEYS", "k1:not-base64!"),
        ("PAYSAGA_ENCRYPTION_KEYS", "k1:c2hvcnQ="),  # decodes to 5 bytes
        ("PAYSAGA_DATABASE_URLS", "mysql://somewhere/db"),
        ("PAYSAGA_API_PORT", "not-a-port"),
    ],
)
def test_malformed_setting_is_named(variable: str, value: str, tmp_path: Path) -> None:
    result = _paysaga(["up"], {variable: value, "PAYSAGA_DATA_DIR": str(tmp_path)}, tmp_path)
    _assert_clean_failure(result, variable)


def test_unreachable_dsn_is_named(tmp_path: Path) -> None:
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    result = _paysaga(
        ["up"], {"PAYSAGA_DATABASE_URLS": dead, "PAYSAGA_DATA_DIR": str(tmp_path)}, tmp_path
    )
    _assert_clean_failure(result, "PAYSAGA_DATABASE_URLS")


def test_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = _paysaga(
            ["up"],
            {"PAYSAGA_POSTGRES_PORT": str(port), "PAYSAGA_DATA_DIR": str(tmp_path)},
            tmp_path,
        )
    _assert_clean_failure(result, "PAYSAGA_POSTGRES_PORT")
