"""Issue 14 item 1: a gateway message that echoes a card number never reaches a store.

At the source (gateway errors and the ApplicationErrors activities raise), where the
workflow reads failures (also those recorded before the fix), in every search-attribute
upsert, and at the API's edge; end to end with the Stripe sandbox's echoing decline on
the real engine: not in `last_error`, the steps, `LastError` or the decoded history.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from temporalio import workflow
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.errors import gateway_application_error, ledger_application_error, translated
from ledger.errors import UnknownAccount
from paysaga.api.errors import error_body
from paysaga.api.views import payment_json
from paysaga.domain.names import LAST_ERROR
from paysaga.domain.pan import contains_pan
from paysaga.domain.payments import PaymentView, StepRecord
from paysaga.domain.status import PaymentStatus
from paysaga.gateways.errors import Declined, InvalidRequest
from paysaga.sandbox import testdata
from tests.security.pan_scan import decoded_history_texts
from tests.workflows.engine import (  # noqa: F401 (fixtures)
    Engine,
    engine,
    engine_sandboxes,
    engine_settings,
    wait_for,
)
from tests.workflows.helpers import over_the_wire
from workflows.failures import classify
from workflows.search import SearchAttributes

ECHO = "Your card 4242 4242 4242 4242 was declined (ref 5555555555554444)."


def test_gateway_errors_and_activity_failures_are_masked_at_the_source() -> None:
    declined = Declined(ECHO, gateway="stripe", decline_code="generic_decline", soft=False)
    invalid = InvalidRequest("No such PaymentMethod: 'pm_378282246310005'", gateway="stripe")
    for exc in (declined, invalid):
        assert not contains_pan(exc.message), exc.message
        assert not contains_pan(gateway_application_error(exc).message)
    assert "[PAN ****4242]" in declined.message and "[PAN ****4444]" in declined.message
    ledger = ledger_application_error(UnknownAccount("no account customer:4000056655665556:USD"))
    assert not contains_pan(ledger.message)
    try:
        with translated():
            raise UnknownAccount("no account 4242-4242-4242-4242")
    except ApplicationError as exc:
        assert not contains_pan(exc.message)


def test_failures_recorded_before_the_fix_are_masked_when_read() -> None:
    # An activity of an older worker raised the gateway's message as it was.
    failure = classify(over_the_wire(ApplicationError(ECHO, type="Declined")))
    assert not contains_pan(failure.reason()), failure.reason()
    assert "Declined" in failure.reason() and "[PAN ****4242]" in failure.reason()


@workflow.defn(name="PanSearchAttributeWorkflow")
class PanSearchAttributeWorkflow:
    @workflow.run
    async def run(self, message: str) -> None:
        SearchAttributes().upsert({LAST_ERROR: message})


async def test_search_attribute_upserts_are_masked(dev_client: Client, task_queue: str) -> None:
    async with Worker(
        dev_client,
        task_queue=task_queue,
        workflows=[PanSearchAttributeWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await dev_client.start_workflow(
            PanSearchAttributeWorkflow.run, ECHO, id=f"pan-sa-{uuid.uuid4()}", task_queue=task_queue
        )
        await handle.result()
    stored = (await handle.describe()).typed_search_attributes.get(LAST_ERROR)
    assert stored is not None and "declined" in stored
    assert not contains_pan(stored), stored


def test_responses_mask_error_texts() -> None:
    now = datetime.now(UTC)
    view = PaymentView(
        payment_id="payment-mer_0123456789abcdef.k",
        status=PaymentStatus.FAILED,
        amount_minor=100,
        currency="USD",
        method_type="card",
        capture_mode="automatic",
        merchant_id="mer_0123456789abcdef",
        customer_id="c",
        last_error=ECHO,
        steps=(StepRecord("declined", now, ECHO),),
    )
    assert not contains_pan(str(payment_json(view)))
    assert not contains_pan(str(error_body("not_found", f"no payment '{ECHO}'", ECHO)))


async def test_gateway_echo_never_reaches_last_error_steps_search_or_history(
    engine: Engine,  # noqa: F811
) -> None:
    request = replace(
        engine.card("stripe", "mer_pan_echo"),
        payment_method=testdata.STRIPE_PM_DECLINE_ECHOES_CARD,
    )
    handle = await engine.start(request)
    view = await wait_for(handle, {PaymentStatus.FAILED})
    assert view.last_error and "[PAN ****5556]" in view.last_error, view.last_error
    texts = [view.last_error, *(step.detail for step in view.steps)]
    await handle.result()
    texts.append(str((await handle.describe()).typed_search_attributes.get(LAST_ERROR)))
    texts += await decoded_history_texts(engine.client, handle.id)
    leaks = [text for text in texts if contains_pan(text)]
    assert leaks == [], leaks
