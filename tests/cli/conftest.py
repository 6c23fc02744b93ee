"""CLI tests reuse the API area's migrated shard databases."""

from __future__ import annotations

from tests.api import conftest as api_fixtures

shard_dsns = api_fixtures.shard_dsns
