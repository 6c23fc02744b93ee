"""Fixtures for workflow tests: the time-skipping server with our search attributes."""

from __future__ import annotations

import contextlib

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from paysaga.domain.names import SEARCH_ATTRIBUTES

_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Text": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


@pytest.fixture(scope="session")
async def env(time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """The shared time-skipping env; the test server needs custom attributes added."""
    for name, kind in SEARCH_ATTRIBUTES.items():
        # Already registered (an earlier test module) is fine.
        with contextlib.suppress(RPCError):
            await time_skipping_env.client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace="default", search_attributes={name: _TYPES[kind]}
                )
            )
    return time_skipping_env


# The real engine (dev server, sandboxes, PostgreSQL shards, production workers).
from tests.workflows.engine import engine, engine_sandboxes, engine_settings  # noqa: E402, F401
