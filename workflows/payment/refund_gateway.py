"""A refund at the gateway, resolved however long its outcome stays unknown, and the wait
for settlement that Braintree's partial refunds need first.

An unknown outcome (timeout after send) is resolved by resending the refund:
- Stripe replays a key's first response, so the resend is the authoritative answer;
- Braintree has no idempotency keys: its adapter looks for a credit with our key (order
  id) before refunding, and its search lags, so the resend waits the gateway's search lag
  bound (the settings', carried on the failure; REFUND_SEARCH_LAG when it carries none)
  after the unknown outcome. Never earlier: a miss then would send a second credit.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.gateways import GatewayLookupInput, GatewayRefundInput, GatewayRefundResult
    from paysaga.domain.refunds import RefundRecord, RefundRequest
    from paysaga.domain.status import PaymentStatus
    from workflows import calls, policies
    from workflows.failures import Failure, classify

from workflows.payment.state import PaymentState

_RESEND_ON_UNKNOWN_PATCH = "refund-resend-on-unknown-outcome"
_SEARCH_PAST_LAG_PATCH = "refund-search-past-lag"
_SETTLEMENT_WAIT_PATCH = "refund-wait-for-settlement"
_RESEND_UNSENT_PATCH = "refund-resend-unsent-at-once"

# Gateways whose refund create replays its idempotency key's first answer.
_REPLAYS_KEYS = frozenset({"stripe"})
# Gateways that refund only settled money; before settlement a full refund is a void
# (braintree_gateway.refund) and a partial one must wait.
_REFUNDS_SETTLED_ONLY = frozenset({"braintree"})
AWAITING_SETTLEMENT = "awaiting_settlement"


async def refund_at_gateway(state: PaymentState, refund: GatewayRefundInput) -> GatewayRefundResult:
    """The gateway's refund; an update failing here is final for its request id.

    Temporal answers a retried update id with the first outcome, so a refund must not
    fail on something a retry would fix, nor while the money may have moved.
    """
    if workflow.patched(_SEARCH_PAST_LAG_PATCH):
        return await _until_known(state, refund)
    for round_ in range(policies.REFUND_ROUNDS):
        try:
            return await calls.refund(state.routing, refund)
        except ActivityError as exc:
            failure = classify(exc)
            last_round = round_ == policies.REFUND_ROUNDS - 1
            if (
                failure.outcome_unknown
                and not last_round
                and workflow.patched(_RESEND_ON_UNKNOWN_PATCH)
            ):
                state.step("refund_outcome_unknown", failure.reason())
                continue
            raise _failed(state, failure) from exc
    raise AssertionError("unreachable")


async def _until_known(state: PaymentState, refund: GatewayRefundInput) -> GatewayRefundResult:
    if workflow.patched(_RESEND_UNSENT_PATCH):
        refund = replace(refund, workflow_resends_unsent=True)
    round_ = unsent = 0
    while True:
        try:
            return await calls.refund(state.routing, refund)
        except ActivityError as exc:
            failure = classify(exc)
            if refund.workflow_resends_unsent and failure.not_charged:
                # Provably not sent (a 429, a failed read before the write): resend
                # soon; the search lag matters only after a request that may have refunded.
                state.step("refund_not_sent", failure.reason())
                await workflow.sleep(_unsent_delay(exc, unsent))
                unsent += 1
                continue
            if not failure.outcome_unknown:
                raise _failed(state, failure) from exc  # the gateway said no: nothing moved
            state.step("refund_outcome_unknown", failure.reason())
        await workflow.sleep(_resend_delay(refund.gateway, round_, failure.search_lag))
        round_ += 1


def _unsent_delay(exc: ActivityError, attempt: int) -> timedelta:
    """The gateway's Retry-After if it gave one, else a backoff capped like REFUND_RETRY's."""
    cause = exc.cause
    told = cause.next_retry_delay if isinstance(cause, ApplicationError) else None
    backoff = min(timedelta(seconds=2**attempt), policies.REFUND_UNSENT_BACKOFF_MAX)
    return max(told or timedelta(0), backoff)


def _resend_delay(gateway: str, round_: int, search_lag: timedelta | None) -> timedelta:
    """`search_lag`: the gateway's bound as its failure reported it (the settings')."""
    backoff = min(timedelta(seconds=2**round_ - 1), policies.REFUND_UNKNOWN_BACKOFF_MAX)
    if gateway in _REPLAYS_KEYS:
        return backoff
    return max(search_lag or policies.REFUND_SEARCH_LAG, backoff)


def _failed(state: PaymentState, failure: Failure) -> ApplicationError:
    state.step("refund_failed", failure.reason())
    return ApplicationError(
        f"refund failed: {failure.reason()}", type=failure.type, non_retryable=True
    )


def must_await_settlement(state: PaymentState, request: RefundRequest) -> bool:
    """A partial refund at a gateway that refunds only settled sales, not known settled."""
    view = state.view
    return (
        view.gateway in _REFUNDS_SETTLED_ONLY
        and view.status != PaymentStatus.SETTLED
        and request.amount_minor < view.captured_minor
        and not _settled_before(state)
        and workflow.patched(_SETTLEMENT_WAIT_PATCH)
    )


def _settled_before(state: PaymentState) -> bool:
    # A refund that went through at the gateway means the sale had settled.
    return any(r.status != AWAITING_SETTLEMENT for r in state.view.refunds)


async def await_settlement(state: PaymentState, request: RefundRequest) -> None:
    """Wait (without the refund lock) until the sale has settled at the gateway.

    The view lists the refund as awaiting_settlement meanwhile. Past the bound the
    refund fails: nothing was sent, the amount is released and may be asked again.
    """
    view = state.view
    assert view.gateway is not None and view.reference is not None
    lookup = GatewayLookupInput(view.gateway, state.payment_id, view.reference)
    record = RefundRecord(
        request.request_id, request.amount_minor, "", AWAITING_SETTLEMENT, workflow.now()
    )
    deadline = workflow.now() + policies.REFUND_SETTLEMENT_WAIT
    state.update(refunds=(*state.view.refunds, record))
    state.step("refund_awaiting_settlement", request.request_id)
    try:
        while not await _settled(state, lookup):
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                state.step("refund_settlement_timeout", request.request_id)
                raise ApplicationError(
                    f"the charge did not settle within {policies.REFUND_SETTLEMENT_WAIT}; "
                    "nothing was refunded",
                    type="not_settled",
                    non_retryable=True,
                )
            with contextlib.suppress(TimeoutError):  # the poll is due
                await workflow.wait_condition(
                    lambda: state.view.status == PaymentStatus.SETTLED,
                    timeout=min(remaining, policies.REFUND_SETTLEMENT_POLL),
                )
    finally:
        state.update(refunds=tuple(r for r in state.view.refunds if r is not record))


async def _settled(state: PaymentState, lookup: GatewayLookupInput) -> bool:
    if state.view.status == PaymentStatus.SETTLED:  # a webhook or reconciliation said so
        return True
    try:
        found = await calls.lookup(state.routing, lookup)
    except ActivityError as exc:
        state.step("refund_settlement_unknown", classify(exc).reason())
        return False  # asked again at the next poll
    if found.payment is None or found.payment.state != "settled":
        return False
    if state.view.status == PaymentStatus.CAPTURED:
        state.set_status(PaymentStatus.SETTLED)
    return True
