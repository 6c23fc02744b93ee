"""Per-shard availability: a shard that is down is probed, not waited on.

Workers must start and serve while one ledger shard is unreachable (issue 13: the chaos
shard outage). A shard found down, at start or when a call to it fails, is marked down;
every call to it then fails at once with the retryable ShardUnavailable (instead of
waiting out the pool's timeout, which is as long as the activity's), and at most one
probe connection per PROBE_INTERVAL_S finds out whether it is back. Payments on the
other shards never wait for it.
"""

from __future__ import annotations

import asyncio
import time

import psycopg
import structlog
from psycopg.conninfo import conninfo_to_dict

from ledger.dsn import redact
from ledger.errors import ShardUnavailable

log = structlog.get_logger()

PROBE_INTERVAL_S = 1.0
PROBE_CONNECT_TIMEOUT_S = 3


def first_line(exc: BaseException) -> str:
    """An error without libpq's multi-line detail."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _password(dsn: str) -> str:
    try:
        return str(conninfo_to_dict(dsn).get("password") or "")
    except psycopg.Error:  # malformed: connecting will say so
        return ""


class ShardHealth:
    """Whether one shard answers, as the last probe or call found it."""

    def __init__(self, index: int, dsn: str) -> None:
        self.index = index
        self.dsn = dsn
        self.down_reason: str | None = None
        self._probed_at = float("-inf")
        self._lock = asyncio.Lock()
        self._password = _password(dsn)

    @property
    def up(self) -> bool:
        return self.down_reason is None

    def status(self) -> str:
        return "ok" if self.up else "degraded"

    def reason(self, exc: BaseException) -> str:
        """The first line of a connection error, without the password (libpq may echo
        parts of the conninfo back)."""
        text = first_line(exc)
        return text.replace(self._password, "***") if self._password else text

    def mark_down(self, reason: str) -> None:
        if self.up:
            log.warning(
                "ledger.shard_unavailable",
                shard=self.index,
                database=redact(self.dsn),
                reason=reason,
            )
        self.down_reason = reason

    async def probe(self) -> bool:
        """One direct connection: True (and marked up) if the shard accepts it."""
        self._probed_at = time.monotonic()
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.dsn, connect_timeout=PROBE_CONNECT_TIMEOUT_S
            )
            await conn.close()
        except (psycopg.Error, OSError, TimeoutError) as exc:
            self.mark_down(self.reason(exc))
            return False
        if not self.up:
            log.warning("ledger.shard_recovered", shard=self.index, database=redact(self.dsn))
            self.down_reason = None
        return True

    async def recheck(self) -> bool:
        """Probe unless a probe ran within the interval; concurrent callers share one."""
        async with self._lock:
            if time.monotonic() - self._probed_at >= PROBE_INTERVAL_S:
                await self.probe()
        return self.up

    async def ensure_up(self) -> bool:
        """Raise ShardUnavailable at once while the shard is down. True for the one caller
        that found it back (it refreshes the pool), False otherwise."""
        if self.up:
            return False
        async with self._lock:
            if self.up:  # another caller found it back
                return False
            if time.monotonic() - self._probed_at >= PROBE_INTERVAL_S and await self.probe():
                return True
        raise ShardUnavailable(f"ledger shard {self.index} unavailable: {self.down_reason}")
