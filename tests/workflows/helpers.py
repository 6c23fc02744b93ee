"""Shared helpers of the workflow tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from temporalio.api.failure.v1 import Failure as FailureProto
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.converter import DataConverter
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.service import RPCError
from temporalio.worker import Worker

from paysaga.domain.payments import PaymentOptions, PaymentRequest
from paysaga.domain.routing import Routing
from workers.registry import WORKFLOWS


@asynccontextmanager
async def worker(client: Client, task_queue: str, activities: list[Any]) -> AsyncIterator[Worker]:
    async with Worker(
        client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities
    ) as running:
        yield running


def payment_request(task_queue: str, **overrides: Any) -> PaymentRequest:
    values: dict[str, Any] = {
        "idempotency_key": uuid.uuid4().hex,
        "merchant_id": "m_1",
        "customer_id": "c_1",
        "amount_minor": 1000,
        "currency": "USD",
        "payment_method": "pm_card_visa",
        "routing": Routing.single(task_queue),
        "options": PaymentOptions(),
    }
    values.update(overrides)
    return PaymentRequest(**values)


# Update rejections: the dev server reports WorkflowUpdateFailedError; the time-skipping
# test server answers a validator rejection with "update not found".
UPDATE_REJECTED = (WorkflowUpdateFailedError, RPCError)


def over_the_wire(error: ApplicationError) -> ActivityError:
    """What a workflow sees: the failure converted to proto and back (details as JSON)."""
    converter = DataConverter.default
    proto = FailureProto()
    converter.failure_converter.to_failure(error, converter.payload_converter, proto)
    decoded = converter.failure_converter.from_failure(proto, converter.payload_converter)
    activity = ActivityError(
        "activity failed",
        scheduled_event_id=1,
        started_event_id=2,
        identity="test",
        activity_type="authorize",
        activity_id="1",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    activity.__cause__ = decoded
    return activity
