"""One authorization at one gateway, and finding out what the gateway did.

The gateway's response and its webhook race; an unknown outcome is resolved by a lookup
(then resent with the same idempotency key); an unavailable gateway is asked whether it
charged anyway before the charge fails over. Raises `Declined` for a decline (the
caller's dunning decides) and `FailOver` when no authorization can have happened.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.events import EventKind, GatewayEvent
    from paysaga.domain.failures import ErrorType
    from paysaga.domain.gateways import GatewayAuthorizeInput, GatewayLookupInput, GatewayResult
    from paysaga.domain.names import gateway_idempotency_key
    from workflows import calls
    from workflows.failures import Failure, PaymentFailure, classify

from workflows.payment.state import PaymentState

_LOOKUP_ROUNDS = 3  # outcome-unknown resolutions before giving up on one attempt
_LOOKUP_BEFORE_FAILOVER_PATCH = "lookup-before-failover"


class Declined(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason())
        self.failure = failure


class FailOver(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason())
        self.failure = failure


async def authorize_once(state: PaymentState, gateway: str, step: str) -> GatewayResult:
    request = state.request
    attempt = GatewayAuthorizeInput(
        gateway=gateway,
        idempotency_key=gateway_idempotency_key(state.payment_id, step),
        payment_id=state.payment_id,
        amount_minor=request.amount_minor,
        currency=request.currency,
        payment_method=request.payment_method,
        capture_now=request.capture_mode == "automatic",
        customer_ref=request.customer_ref,
        description=request.description,
        method_type=request.method_type,
    )
    for _ in range(_LOOKUP_ROUNDS):
        state.webhook_payment = None
        handle = calls.start_authorize(request.routing, attempt)
        # Card payments confirm on the gateway response or the webhook, whichever
        # comes first; a late response is then ignored.
        await workflow.wait_condition(
            lambda h=handle: h.done() or state.webhook_payment is not None  # type: ignore[misc]
        )
        if not handle.done():
            handle.add_done_callback(_consume)
            event = state.webhook_payment
            assert event is not None
            state.step("confirmed_by_webhook", event.event_id)
            return result_from_event(state, gateway, event)
        try:
            result = handle.result()
        except ActivityError as exc:
            failure = classify(exc)
            if failure.type == ErrorType.DECLINED:
                raise Declined(failure) from exc
            if failure.outcome_unknown:
                state.step("outcome_unknown", failure.reason())
                found = await lookup(state, gateway)
                if found is None:
                    # Never reached the gateway: retry with the same idempotency key.
                    state.step("lookup", "not found; retrying")
                    continue
                state.step("lookup", f"found {found.reference} {found.state}")
                result = found
            elif failure.failover or failure.type in (
                ErrorType.UNAVAILABLE,
                ErrorType.RATE_LIMITED,
            ):
                found = await _charged_despite(state, failure, gateway)
                if found is None:
                    raise FailOver(failure) from exc
                result = found
            else:
                raise PaymentFailure(failure.reason()) from exc
        if result.state == "failed":
            soft = False
            raise Declined(
                Failure(
                    ErrorType.DECLINED, "the gateway failed the payment", result.decline_code, soft
                )
            )
        state.step("authorized", f"{result.reference} {result.state}")
        return result
    raise PaymentFailure("outcome unknown: the gateway never confirmed the authorization")


async def _charged_despite(
    state: PaymentState, failure: Failure, gateway: str
) -> GatewayResult | None:
    """The payment at the gateway after a call that failed as unavailable, if any.

    The activity's last attempt decides the failure's type, but an earlier attempt
    may have timed out after the gateway processed it (and a 5xx itself does not
    prove nothing happened). Failing over or failing then would leave the customer
    charged with no payment of ours behind it, so we ask the gateway first.
    """
    if not workflow.patched(_LOOKUP_BEFORE_FAILOVER_PATCH):
        return None
    found = await lookup(state, gateway)
    if found is None or found.state in ("failed", "canceled"):
        return None
    state.step("lookup", f"found {found.reference} {found.state} after {failure.type}")
    return found


async def lookup(state: PaymentState, gateway: str) -> GatewayResult | None:
    """This payment at `gateway` (by our payment id), if the gateway has it."""
    found = await calls.lookup(
        state.routing,
        GatewayLookupInput(gateway=gateway, payment_id=state.payment_id),
    )
    return found.payment if found.found else None


def result_from_event(state: PaymentState, gateway: str, event: GatewayEvent) -> GatewayResult:
    captured = event.kind == EventKind.PAYMENT_CAPTURED
    amount = event.amount_minor or state.request.amount_minor
    return GatewayResult(
        gateway=gateway,
        reference=event.reference or "",
        payment_id=state.payment_id,
        state="captured" if captured else "authorized",
        amount_minor=amount,
        captured_minor=amount if captured else 0,
        refunded_minor=0,
        currency=state.request.currency,
    )


def _consume(task: asyncio.Task[GatewayResult]) -> None:
    """A response that lost the race to its webhook: read it so nothing is left unraised."""
    if not task.cancelled():
        task.exception()
