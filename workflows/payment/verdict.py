"""Whether one authorization attempt charged, decided before anything is resent or failed
over, for gateways whose searches lag.

Both gateways' searches are eventually consistent (Stripe: "under normal operating
conditions, data is searchable in under 1 minute", later during an outage,
https://docs.stripe.com/search#data-freshness; Braintree's transaction search is an
index too, with no read-after-write promise), so one miss proves nothing. A miss becomes
the verdict "not charged" only when a search answered at least the lag bound after we
last saw the attempt's request fail (the operator's per-gateway setting, which the
activity's failure carries; SEARCH_LAG_BOUND for failures that carry none, like a
timeout); until then the search is repeated on timers, and
what it finds is the attempt's charge. A search that fails is retried on a capped
backoff and alerted (LastError), never read as an answer. Lookups are of one attempt:
Stripe by the attempt's idempotency key (its `attempt` metadata), Braintree by sales of
our order id created since the attempt began (less CLOCK_SKEW), so an earlier,
soft-declined dunning attempt is never taken for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.gateways import GatewayLookupInput, GatewayResult
    from paysaga.domain.names import gateway_idempotency_key
    from workflows import calls
    from workflows.failures import classify

from workflows.payment.state import PaymentState

# How long after our request failed a charge it made may still be missing from the
# gateway's search (late completion + indexing lag), when the failure does not say (the
# settings' stripe/braintree_search_lag_s travel on activity failures). The guarantee
# rests on it.
SEARCH_LAG_BOUND: Final = timedelta(seconds=60)
SEARCH_INTERVAL: Final = timedelta(seconds=10)  # at most; a third of a shorter bound
SEARCH_FAILURE_BACKOFF_CAP: Final = timedelta(minutes=5)
# Braintree stamps sales with its clock, the workflow reads Temporal's: an attempt's sales
# are searched from its start less this margin (dunning attempts are hours apart).
CLOCK_SKEW: Final = timedelta(minutes=5)
# Stripe: replays of the create with the attempt's key (each an authoritative answer if
# one comes back) before the search decides; Braintree: sends of one attempt, each after
# a "not charged" verdict.
REPLAYING_GATEWAYS: Final = frozenset({"stripe"})  # same key within 24 h: the stored answer
STRIPE_REPLAYS: Final = 3
BRAINTREE_SENDS: Final = 3
REPLAY_BACKOFF_FIRST: Final = timedelta(seconds=2)
REPLAY_BACKOFF_CAP: Final = timedelta(minutes=1)


def attempt_key(state: PaymentState) -> str:
    """The idempotency key of the payment's current authorization attempt."""
    return gateway_idempotency_key(state.payment_id, f"authorize-{state.view.attempts}")


def lag_bound(state: PaymentState) -> timedelta:
    """How long after the attempt's failure a search miss proves nothing."""
    return state.attempt_search_lag or SEARCH_LAG_BOUND


def backoff(round_: int, first: timedelta, cap: timedelta) -> timedelta:
    delay: timedelta = first * (2 ** max(round_ - 1, 0))
    return min(delay, cap)


async def search(state: PaymentState, gateway: str, started_at: datetime) -> GatewayResult | None:
    """One lookup of the current attempt at `gateway` (ActivityError if it failed)."""
    found = await calls.lookup(
        state.routing,
        GatewayLookupInput(
            gateway=gateway,
            payment_id=state.payment_id,
            attempt_key=attempt_key(state),
            since=started_at - CLOCK_SKEW,
        ),
    )
    return found.payment if found.found else None


async def search_verdict(state: PaymentState, gateway: str) -> GatewayResult | None:
    """The attempt's charge, or None once a search past the lag bound found nothing.

    The lag counts from the attempt's last unanswered send; an attempt whose sends were
    all answered (a decline) needs one search only.
    """
    started_at = state.attempt_started_at
    assert started_at is not None
    failed_at = state.attempt_failed_at
    lag = lag_bound(state)
    interval = min(SEARCH_INTERVAL, lag / 3)
    deadline = workflow.now() if failed_at is None else failed_at + lag
    failures = 0
    while True:
        try:
            found = await search(state, gateway, started_at)
        except ActivityError as exc:
            failures += 1
            reason = f"outcome unknown, lookup failed: {classify(exc).reason()}"
            state.update(last_error=reason)
            state.step("lookup_failed", reason)
            await workflow.sleep(backoff(failures, SEARCH_INTERVAL, SEARCH_FAILURE_BACKOFF_CAP))
            continue
        if found is not None:
            state.step("lookup", f"found {found.reference} {found.state}")
            return found
        if workflow.now() >= deadline:
            state.step("lookup", f"not found {lag} after the request failed")
            return None
        state.step("lookup", "not found yet")
        await workflow.sleep(interval)
