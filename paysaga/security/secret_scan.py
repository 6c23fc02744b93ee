"""Fail CI when a tracked file holds a live-looking credential.

Usage: python -m paysaga.security.secret_scan [ROOT]. Scans the files git tracks (or every
file under ROOT outside ignored folders) for live Stripe keys, Braintree private
keys, Plaid secrets and PEM private keys. The sandboxes' documented test values
are allowed explicitly in ALLOWED.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PATTERNS: dict[str, re.Pattern[str]] = {
    "stripe live secret key": re.compile(r"\b(sk|rk)_live_[A-Za-z0-9]{16,}"),
    "stripe test secret key": re.compile(r"\b(sk|rk)_test_[A-Za-z0-9]{24,}"),
    "braintree private key": re.compile(
        r"(?i)braintree[_-]?private[_-]?key\s*[=:]\s*['\"]?[0-9a-f]{32}\b"
    ),
    "plaid secret": re.compile(r"(?i)plaid[_-]?secret\s*[=:]\s*['\"]?[0-9a-f]{30}\b"),
    "paysaga live api key": re.compile(r"\bpsk_live_[0-9a-f]{16}_[A-Za-z0-9]{43}\b"),
    "pem private key": re.compile(
        r"-----BEGIN (RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"
    ),
}

# Documented sandbox values and test fixtures that look like credentials on purpose.
ALLOWED: frozenset[str] = frozenset()

SKIP_DIRS = {
    ".git",
    ".venv",
    ".paysaga",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    "node_modules",
}
# The scanner's own patterns and its tests mention the shapes it looks for.
SKIP_FILES = {"paysaga/security/secret_scan.py", "tests/unit/test_secret_scan.py"}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    kind: str


def _candidate_files(root: Path) -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [root / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in root.rglob("*") if p.is_file() and not SKIP_DIRS.intersection(p.parts)]


def scan(root: Path) -> list[Finding]:
    findings: list[Finding] = []
    for path in _candidate_files(root):
        rel = path.relative_to(root).as_posix()
        if rel in SKIP_FILES or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            for kind, pattern in PATTERNS.items():
                match = pattern.search(line)
                if match and match.group(0) not in ALLOWED:
                    findings.append(Finding(rel, number, kind))
    return findings


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else ".").resolve()
    findings = scan(root)
    for finding in findings:
        print(f"{finding.path}:{finding.line}: looks like a {finding.kind}")
    if findings:
        print(
            f"secret scan: {len(findings)} finding(s); remove them or add a documented test value"
        )
        return 1
    print("secret scan: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
