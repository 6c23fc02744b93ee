"""The CI secret scanner finds live-looking keys and leaves documented test values alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from paysaga.security.api_keys import generate_api_key
from paysaga.security.secret_scan import scan

# Built at run time so this file itself never looks like it holds a key.
LIVE_STRIPE = "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc"
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----"


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_scan_finds_live_keys(tmp_path: Path) -> None:
    live_psk = generate_api_key(live=True).plaintext
    root = _repo(
        tmp_path,
        {
            "a.py": f"STRIPE = '{LIVE_STRIPE}'\n",
            "b.pem": PEM + "\nMIIEow...\n",
            "c.env": f"PAYSAGA_KEY={live_psk}\n",
            "ok.py": "STRIPE = 'sk_test_paysaga_sandbox'\nx = 1\n",
        },
    )
    kinds = {(f.path, f.kind) for f in scan(root)}
    assert ("a.py", "stripe live secret key") in kinds
    assert ("b.pem", "pem private key") in kinds
    assert ("c.env", "paysaga live api key") in kinds
    assert not any(path == "ok.py" for path, _ in kinds)


def test_cli_exit_code(tmp_path: Path) -> None:
    clean = _repo(tmp_path, {"ok.py": "x = 'sk_test_paysaga_sandbox'\n"})
    cmd = [sys.executable, "-m", "paysaga.security.secret_scan", str(clean)]
    assert subprocess.run(cmd, capture_output=True, check=False).returncode == 0
    (clean / "leak.py").write_text(f"KEY = '{LIVE_STRIPE}'\n")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "leak.py:1" in result.stdout
    assert LIVE_STRIPE not in result.stdout  # the report names the place, not the key


def test_repository_is_clean(repo_root: Path) -> None:
    assert scan(repo_root) == []
