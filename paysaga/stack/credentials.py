"""The embedded PostgreSQL's superuser password: generated once, kept 0600 beside its data.

The server authenticates with scram-sha-256 instead of trusting every local user, so
a DSN of the embedded stack carries this password. Only the owner of the data dir
(and the server's system user when run as root) can read it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from urllib.parse import quote

from paysaga.stack.private_files import PRIVATE_FILE

PASSWORD_FILE = "password"  # noqa: S105 - a file name
SUPERUSER = "postgres"


def password_path(pg_dir: Path) -> Path:
    return pg_dir / PASSWORD_FILE


def read_password(pg_dir: Path) -> str | None:
    """The stored password, or None before the server was first initialised."""
    try:
        return password_path(pg_dir).read_text().strip() or None
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None


def ensure_password(pg_dir: Path) -> str:
    """The stored password, generated (256 bits, URL-safe) and written 0600 if missing."""
    path = password_path(pg_dir)
    pg_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        # O_EXCL: never follow or reuse a file someone else planted; 0600 from birth.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    if path.stat().st_mode & 0o077:  # from an older version or a careless copy
        path.chmod(PRIVATE_FILE)
    password = read_password(pg_dir)
    if not password:
        raise OSError(f"{path} is empty")
    return password


def postgres_url(port: int, database: str, password: str | None) -> str:
    credentials = f"{SUPERUSER}:{quote(password, safe='')}" if password else SUPERUSER
    return f"postgresql://{credentials}@127.0.0.1:{port}/{database}"


def embedded_postgres_url(data_dir: Path, port: int, database: str) -> str:
    """A DSN of the embedded stack under `data_dir` (its PostgreSQL lives in postgres/)."""
    return postgres_url(port, database, read_password(data_dir / "postgres"))
