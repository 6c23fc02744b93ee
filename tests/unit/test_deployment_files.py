"""docker-compose.yml and the Dockerfile name real entry points of this project.

Docker is not available here, so the compose file is checked statically: every
service built from our image must run a `paysaga` sub-command that exists or a
`python -m` module that has a __main__.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from paysaga.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _our_services() -> dict[str, dict[str, Any]]:
    return {
        name: spec
        for name, spec in _compose()["services"].items()
        if spec.get("image", "").startswith("paysaga")
    }


def test_compose_has_the_production_like_services() -> None:
    services = _compose()["services"]
    for name in (
        "temporal-db",
        "temporal",
        "temporal-ui",
        "ledger-shard-0",
        "ledger-shard-1",
        "migrate",
        "workers",
        "api",
        "codec-server",
    ):
        assert name in services, name
    assert "build" in services["workers"] and "container_name" not in services["workers"]


@pytest.mark.parametrize("service", sorted(_our_services()))
def test_service_command_is_a_real_entry_point(service: str) -> None:
    command = _our_services()[service]["command"]
    assert isinstance(command, list) and command, "use exec form so signals reach the process"
    if command[0] == "paysaga":
        group = get_command(app)
        names = set(group.commands)  # type: ignore[attr-defined]
        assert command[1] in names, f"`paysaga {command[1]}` is not a command"
    else:
        assert command[:2] == ["python", "-m"], command
        module = command[2]
        spec = importlib.util.find_spec(module)
        assert spec is not None, f"python -m {module}: no such module"
        if spec.submodule_search_locations is not None:  # a package needs a __main__
            assert importlib.util.find_spec(f"{module}.__main__") is not None, module


def test_dockerfile_copies_existing_packages() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+) \S+$", dockerfile, flags=re.MULTILINE):
        assert (ROOT / source).exists(), f"Dockerfile copies missing path {source}"


# ------------------------------------------------ issue 14: production fails closed
_DEFAULTED = re.compile(r"\$\{(\w+):?-([^}]*)\}")


def _app_environment() -> dict[str, str]:
    env: dict[str, str] = _our_services()["api"]["environment"]
    return env


def test_compose_never_defaults_a_secret_to_empty() -> None:
    from tests.security.production_env import SECRETS

    text = (ROOT / "docker-compose.yml").read_text()
    assert not [m.group(0) for m in _DEFAULTED.finditer(text) if not m.group(2)], "empty default"
    env = _app_environment()
    assert env["PAYSAGA_ENV"] == "production"
    required = [*SECRETS, "PAYSAGA_BRAINTREE_MERCHANT_ID", "PAYSAGA_BRAINTREE_PUBLIC_KEY"]
    for name in [*required, "PAYSAGA_PLAID_CLIENT_ID"]:
        assert env[name].startswith(f"${{{name}:?"), f"{name}: {env[name]}"
    for service in ("temporal-db", "ledger-shard-0"):
        password = _compose()["services"][service]["environment"]["POSTGRES_PASSWORD"]
        assert ":?" in password, service


def test_compose_gateway_urls_default_to_live_endpoints() -> None:
    from paysaga.config.production import gateway_url_problem

    env = _app_environment()
    for name in ("PAYSAGA_STRIPE_API_BASE", "PAYSAGA_BRAINTREE_BASE_URL", "PAYSAGA_PLAID_BASE_URL"):
        match = _DEFAULTED.fullmatch(env[name])
        assert match is not None, env[name]
        assert gateway_url_problem(match.group(2)) is None, env[name]


def test_codec_server_command_uses_options_it_has() -> None:
    import subprocess
    import sys

    command = _our_services()["codec-server"]["command"]
    shown = subprocess.run(
        [sys.executable, "-m", command[2], "--help"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    for option in (arg for arg in command[3:] if arg.startswith("--")):
        assert option in shown.stdout, option
