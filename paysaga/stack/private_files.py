"""Owner-only state of the local stack: 0700 directories, 0600 files.

The data dir holds the Temporal SQLite store (every payment's history), logs and the
PostgreSQL password; other local users must not read any of it. Children of the stack
run with umask 077, so whatever they create is private too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
PRIVATE_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed and make it 0700, keeping an existing "others
    may traverse" bit: the embedded PostgreSQL's system user may need it to reach its
    data below (postgres._grant_traverse). Taking it away left pg_ctl unable to see the
    server, so stop() did nothing and the server outlived its stack."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    traverse = stat.S_IMODE(path.stat().st_mode) & stat.S_IXOTH
    path.chmod(PRIVATE_DIR | traverse)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty if missing, 0600 either way (an older stack left 0644 files)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    os.close(fd)
    path.chmod(PRIVATE_FILE)
    return path


def open_private_append(path: Path) -> BinaryIO:
    """A log file opened for appending, created or tightened to 0600."""
    private_file(path)
    return path.open("ab")


def write_private_text(path: Path, text: str) -> None:
    private_file(path)
    with path.open("w") as out:
        out.write(text)


def tighten(path: Path) -> None:
    """0600 on an existing file (e.g. the SQLite store and its -wal/-shm companions)."""
    if path.exists():
        path.chmod(PRIVATE_FILE)
