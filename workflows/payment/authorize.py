"""One authorization at one gateway, and finding out what the gateway did.

The gateway's response and its webhook race. A failure that may come after the gateway
charged (unknown outcome, timeout, an unrecognised error, unavailable) is resolved
before anything is resent or failed over: Stripe by replaying the create with the
attempt's idempotency key, Braintree (and Stripe when no replay is answered) by the
search verdict of payment.verdict. Raises `Declined` for a decline (the caller's
dunning decides) and `FailOver` when no authorization can have happened.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.events import EventKind, GatewayEvent
    from paysaga.domain.failures import ErrorType
    from paysaga.domain.gateways import GatewayAuthorizeInput, GatewayLookupInput, GatewayResult
    from paysaga.domain.names import gateway_idempotency_key
    from workflows import calls
    from workflows.failures import Failure, PaymentFailure, classify

from workflows.payment import verdict
from workflows.payment.state import PaymentState

_LOOKUP_ROUNDS = 3  # outcome-unknown resolutions before giving up on one attempt
_LOOKUP_BEFORE_FAILOVER_PATCH = "lookup-before-failover"
# Unknown outcomes resolved authoritatively (Stripe replays, Braintree search past the lag
# bound, per attempt) before anything is resent or failed over; older runs replay the loop.
_RESOLVE_PATCH = "authorize-resolve-unknown-per-attempt"
# A refusal that proves a send charged nothing (FailureDetails.not_charged) is resent or
# failed over without waiting for a search verdict: the activity no longer lets Temporal
# retry writes to a gateway without idempotency keys, so nothing else can have charged.
_NOT_CHARGED_PATCH = "authorize-not-charged-skips-verdict"
_UNAVAILABLE = (ErrorType.UNAVAILABLE, ErrorType.RATE_LIMITED)
# Answers refusing the request: the gateway did nothing with it.
_REFUSED = (
    ErrorType.INVALID_REQUEST,
    ErrorType.AUTHENTICATION_FAILED,
    ErrorType.IDEMPOTENCY_MISMATCH,
    ErrorType.VALIDATION_ERROR,
)


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
    if workflow.patched(_RESOLVE_PATCH):
        return await _authorize_resolving(state, replace(attempt, tag_attempt=True))
    for _ in range(_LOOKUP_ROUNDS):
        outcome = await _send(state, attempt)
        if isinstance(outcome, GatewayResult):
            result = outcome
        else:
            failure = outcome
            if failure.outcome_unknown:
                state.step("outcome_unknown", failure.reason())
                found = await lookup(state, gateway)
                if found is None:
                    # Never reached the gateway: retry with the same idempotency key.
                    state.step("lookup", "not found; retrying")
                    continue
                state.step("lookup", f"found {found.reference} {found.state}")
                result = found
            elif failure.failover or failure.type in _UNAVAILABLE:
                found = await _charged_despite(state, failure, gateway)
                if found is None:
                    raise FailOver(failure)
                result = found
            else:
                raise PaymentFailure(failure.reason())
        return _accepted(state, result)
    raise PaymentFailure("outcome unknown: the gateway never confirmed the authorization")


async def _authorize_resolving(
    state: PaymentState, attempt: GatewayAuthorizeInput
) -> GatewayResult:
    """One attempt whose every outcome is resolved before anything is resent or failed over.

    A failure that is not an answer refusing the request (declined, invalid) may come
    after the gateway charged: unknown outcomes, timeouts, errors nobody recognises, and
    unavailable (an earlier retry may have charged). Stripe replays the create with the
    attempt's key, whose answer is authoritative; when no replay is answered, and for
    Braintree (no idempotency key), the search verdict decides: the attempt's charge, or
    none past the lag bound, after which Braintree may resend and either may fail over.
    """
    gateway = attempt.gateway
    state.attempt_started_at = workflow.now()
    state.attempt_failed_at = None
    state.attempt_search_lag = None
    replays = gateway in verdict.REPLAYING_GATEWAYS
    sends = 0
    while True:
        sends += 1
        outcome = await _send(state, attempt)
        if isinstance(outcome, GatewayResult):
            return _accepted(state, outcome)
        failure = outcome
        if failure.type in _REFUSED:
            raise PaymentFailure(failure.reason())
        final_sends = not replays and workflow.patched(_NOT_CHARGED_PATCH)
        if final_sends and failure.not_charged:
            # A 429 or no connection: this send charged nothing (and the gateway did not
            # let Temporal retry it), so there is nothing to search for.
            state.step("unavailable", failure.reason())
            if sends >= verdict.BRAINTREE_SENDS:
                raise FailOver(failure)
            await workflow.sleep(
                verdict.backoff(sends, verdict.REPLAY_BACKOFF_FIRST, verdict.REPLAY_BACKOFF_CAP)
            )
            continue
        state.attempt_failed_at = workflow.now()
        state.attempt_search_lag = failure.search_lag or state.attempt_search_lag
        unavailable = failure.failover or failure.type in _UNAVAILABLE
        state.step("unavailable" if unavailable else "outcome_unknown", failure.reason())
        # Stripe: a replay answers for the first request. An unavailable gateway gets one
        # (then the search decides, so that failing over is not held up by an outage).
        if replays and sends <= (1 if unavailable else verdict.STRIPE_REPLAYS):
            await workflow.sleep(
                verdict.backoff(sends, verdict.REPLAY_BACKOFF_FIRST, verdict.REPLAY_BACKOFF_CAP)
            )
            continue  # the replay's answer is the first request's, if it ran
        found = await verdict.search_verdict(state, gateway)
        if found is not None and found.state != "canceled":
            return _accepted(state, found)
        # Braintree's 5xx (final since the patch) get the verdict and resends of an
        # unknown outcome, as when Temporal's refused retry made them one.
        if (unavailable and not final_sends) or replays or sends >= verdict.BRAINTREE_SENDS:
            raise FailOver(failure)
        state.step("resend", f"nothing charged {verdict.lag_bound(state)} after the failure")


async def _send(state: PaymentState, attempt: GatewayAuthorizeInput) -> GatewayResult | Failure:
    """Send the attempt once: the gateway's result or its webhook, whichever comes first,
    or the failure (a decline raises Declined)."""
    state.webhook_payment = None
    handle = calls.start_authorize(state.request.routing, attempt)
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
        return result_from_event(state, attempt.gateway, event)
    try:
        return handle.result()
    except ActivityError as exc:
        failure = classify(exc)
        if failure.type == ErrorType.DECLINED:
            raise Declined(failure) from exc
        return failure


def _accepted(state: PaymentState, result: GatewayResult) -> GatewayResult:
    if result.state == "failed":
        soft = False
        raise Declined(
            Failure(ErrorType.DECLINED, "the gateway failed the payment", result.decline_code, soft)
        )
    state.step("authorized", f"{result.reference} {result.state}")
    return result


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
    """This payment at `gateway`, if the gateway has it.

    From the resolving patch on: the current attempt's charge by the search verdict (a
    miss counts only past the lag bound); before it, one search by our payment id.
    """
    if state.attempt_started_at is not None:
        return await verdict.search_verdict(state, gateway)
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
