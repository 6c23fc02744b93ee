"""The ONE place for retry policies, timeouts and business timers of every workflow.

Retries live only here (docs/design.md): activities raise classified ApplicationErrors and
these policies decide. Gateway decisions (declined, invalid, outcome unknown) are never
retried by Temporal; the workflow handles them (dunning, lookup).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Final

from temporalio.common import RetryPolicy

from paysaga.domain.failures import ErrorType
from paysaga.domain.onboarding import OnboardingOptions
from paysaga.domain.payments import PaymentOptions

# Error types (ApplicationError.type = the gateway error's class name) that a retry
# could not fix or could make worse.
GATEWAY_NON_RETRYABLE: Final = (
    ErrorType.DECLINED,
    ErrorType.INVALID_REQUEST,
    ErrorType.IDEMPOTENCY_MISMATCH,
    ErrorType.AUTHENTICATION_FAILED,
    ErrorType.OUTCOME_UNKNOWN,
    ErrorType.VALIDATION_ERROR,
)

# Gateway calls: RateLimited / Unavailable are retried; the activity sets
# ApplicationError(next_retry_delay=Retry-After) so the server waits as told.
GATEWAY_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
    non_retryable_error_types=list(GATEWAY_NON_RETRYABLE),
)
GATEWAY_START_TO_CLOSE: Final = timedelta(seconds=30)
# Recording an onboarding's bank account comes after Stripe attached it: retried until
# the control database takes it (a refusal of the row itself is final).
BANK_ACCOUNT_RECORD_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,
    non_retryable_error_types=[ErrorType.VALIDATION_ERROR, ErrorType.INVALID_REQUEST],
)
GATEWAY_SCHEDULE_TO_CLOSE: Final = timedelta(minutes=10)

# Refunds: once accepted, the customer is owed the money and there is no other gateway
# to fail over to, so transient failures (5xx, 429, Braintree's "wait for settlement")
# are retried until the schedule-to-close timeout rather than six times.
REFUND_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=list(GATEWAY_NON_RETRYABLE),
)
# Rounds of REFUND_RETRY after an unknown outcome (timeout after send) before a refund
# fails: each round resends with the same idempotency key, which the gateway answers
# with the first refund if it happened.
REFUND_ROUNDS: Final = 5
# From patch refund-search-past-lag on, an unknown refund outcome is never a failure:
# rounds go on, apart by a backoff capped here. A gateway without idempotency keys
# (Braintree) is searched only once REFUND_SEARCH_LAG has passed since the request that
# may have refunded: we assume its transaction search shows a credit within that bound
# (Stripe documents its Search lag as typically under a minute; Braintree documents
# none, docs/design.md). Stripe needs no wait: a resend with the key is authoritative.
REFUND_SEARCH_LAG: Final = timedelta(minutes=2)
REFUND_UNKNOWN_BACKOFF_MAX: Final = timedelta(minutes=30)
# A refund provably not sent (patch refund-resend-unsent-at-once) is resent by the
# workflow after a backoff capped here (or the gateway's Retry-After).
REFUND_UNSENT_BACKOFF_MAX: Final = timedelta(seconds=60)
# Braintree refunds only settled sales (a partial void does not exist): a partial refund
# before settlement waits for it, outside the refund lock, polling the sale this often,
# and fails (nothing refunded, the amount released) if the sale has not settled within
# REFUND_SETTLEMENT_WAIT. Sales settle in about a day; the bound allows for weekends.
# https://developer.paypal.com/braintree/docs/reference/request/transaction/refund/python
REFUND_SETTLEMENT_POLL: Final = timedelta(hours=1)
REFUND_SETTLEMENT_WAIT: Final = timedelta(days=5)
# A refund the gateway accepted pending (Stripe `pending`, a Braintree credit not yet
# settled) is resolved by its webhook, or, if that is lost, by reading the refund by id:
# first this long after it was accepted, then at doubling intervals up to the cap, for
# as long as it stays pending (Stripe refunds can stay pending for days:
# https://docs.stripe.com/refunds#failed-refunds ; Braintree credits settle in a batch
# about a day later). The payment stays open meanwhile.
REFUND_STATUS_POLL_FIRST: Final = timedelta(seconds=30)
REFUND_STATUS_POLL_MAX: Final = timedelta(hours=1)

# Reads (lookup, retrieve): harmless to repeat, so retried longer.
GATEWAY_READ_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=20,
    non_retryable_error_types=[
        ErrorType.INVALID_REQUEST,
        ErrorType.AUTHENTICATION_FAILED,
        ErrorType.VALIDATION_ERROR,
    ],
)

# Settlement listings can be long: heartbeated, with a short heartbeat timeout.
LIST_SETTLED_START_TO_CLOSE: Final = timedelta(minutes=10)
LIST_SETTLED_HEARTBEAT: Final = timedelta(seconds=30)
# A gateway whose reconciliation failed (its activities out of retries) is tried again
# this many more rounds, this far apart, while the others' results stand (about 6 hours).
RECON_GATEWAY_RETRY_ROUNDS: Final = 6
RECON_GATEWAY_RETRY_DELAY: Final = timedelta(hours=1)

# Ledger writes are idempotent (keyed entries): retried until they succeed, except
# when the ledger says the request itself is wrong.
LEDGER_NON_RETRYABLE: Final = (
    ErrorType.VALIDATION_ERROR,
    ErrorType.INVALID_ENTRY,
    ErrorType.LEDGER_INVALID_AMOUNT,
    ErrorType.UNBALANCED_ENTRY,
    ErrorType.CURRENCY_MISMATCH,
    ErrorType.CROSS_SHARD_ENTRY,
    ErrorType.INSUFFICIENT_FUNDS,
    ErrorType.UNKNOWN_ACCOUNT,
    ErrorType.UNKNOWN_ENTRY,
    ErrorType.IDEMPOTENCY_CONFLICT,
    ErrorType.ACCOUNT_CONFLICT,
    ErrorType.NOT_PENDING,
    ErrorType.ALREADY_POSTED,
    ErrorType.ALREADY_VOIDED,
    ErrorType.PENDING_EXPIRED,
)
LEDGER_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=50,
    non_retryable_error_types=list(LEDGER_NON_RETRYABLE),
)

# Booking money that already moved at a gateway (a capture, a refund) must happen however
# long the ledger is away (issue 13): rounds of BOOKING_RETRY without end, the payment's
# LastError saying so between rounds. The first round is short so the alert comes early;
# later rounds back off to BOOKING_LATER_RETRY (~30 min each) to keep the history small.
BOOKING_RETRY: Final = replace(LEDGER_RETRY, maximum_attempts=10)
BOOKING_LATER_RETRY: Final = replace(
    LEDGER_RETRY,
    initial_interval=timedelta(seconds=30),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=10,
)


def booking_retry(round_: int) -> RetryPolicy:
    return BOOKING_RETRY if round_ == 0 else BOOKING_LATER_RETRY


LEDGER_START_TO_CLOSE: Final = timedelta(seconds=30)
LEDGER_LONG_START_TO_CLOSE: Final = timedelta(minutes=10)
LEDGER_HEARTBEAT: Final = timedelta(seconds=30)

# A gateway capture is safe to resend (Stripe replays its idempotency key; Braintree
# refuses a second submit_for_settlement with 91507, which the adapter reads as done), and
# an authorization stays capturable until it expires: a capture that failed transiently
# or with an unknown outcome is resent in rounds of GATEWAY_RETRY, this far apart
# (doubling from the first, capped), until the authorization expires.
CAPTURE_ROUND_DELAY: Final = timedelta(seconds=1)
CAPTURE_ROUND_DELAY_MAX: Final = timedelta(minutes=15)


def capture_round_delay(round_: int) -> timedelta:
    delay = CAPTURE_ROUND_DELAY * (1 << min(round_, 10))
    return min(delay, CAPTURE_ROUND_DELAY_MAX)


# Compensations must eventually happen: unlimited attempts, capped backoff.
COMPENSATION_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
    non_retryable_error_types=[
        ErrorType.VALIDATION_ERROR,
        ErrorType.INVALID_REQUEST,
        ErrorType.UNKNOWN_ENTRY,
        ErrorType.ALREADY_POSTED,
        ErrorType.NOT_PENDING,
    ],
)

# Business timers.
DEFAULT_DUNNING_SCHEDULE: Final = (
    int(timedelta(hours=1).total_seconds()),
    int(timedelta(days=1).total_seconds()),
    int(timedelta(days=3).total_seconds()),
)
DEFAULT_AUTHORIZATION_EXPIRY: Final = timedelta(days=7)
DEFAULT_ACH_SETTLEMENT_WAIT: Final = timedelta(days=5)
DEFAULT_REQUIRES_ACTION_WAIT: Final = timedelta(days=1)
DEFAULT_REFUND_WINDOW: Final = timedelta(days=180)
# NACHA: a consumer may return a debit as unauthorized (R10) up to 60 calendar days after
# settlement; an ACH payment stays open at least this long after it settled.
ACH_RETURN_WINDOW: Final = timedelta(days=60)
DEFAULT_MAX_EVENTS_PER_RUN: Final = 200
DEFAULT_ONBOARDING_REMINDER: Final = timedelta(days=2)
DEFAULT_ONBOARDING_EXPIRY: Final = timedelta(days=7)


def dunning_schedule(options: PaymentOptions) -> tuple[timedelta, ...]:
    """Offsets from the first attempt at which a soft-declined charge is retried."""
    seconds = options.dunning_schedule_s
    if seconds is None:
        seconds = DEFAULT_DUNNING_SCHEDULE
    return tuple(timedelta(seconds=s) for s in seconds)


def authorization_expiry(options: PaymentOptions) -> timedelta:
    if options.authorization_expiry_s is None:
        return DEFAULT_AUTHORIZATION_EXPIRY
    return timedelta(seconds=options.authorization_expiry_s)


def ach_settlement_wait(options: PaymentOptions) -> timedelta:
    if options.ach_settlement_wait_s is None:
        return DEFAULT_ACH_SETTLEMENT_WAIT
    return timedelta(seconds=options.ach_settlement_wait_s)


def refund_window(options: PaymentOptions) -> timedelta:
    if options.refund_window_s is None:
        return DEFAULT_REFUND_WINDOW
    return timedelta(seconds=options.refund_window_s)


def max_events_per_run(options: PaymentOptions) -> int:
    return options.max_events_per_run or DEFAULT_MAX_EVENTS_PER_RUN


def onboarding_reminder(options: OnboardingOptions) -> timedelta:
    if options.reminder_interval_s is None:
        return DEFAULT_ONBOARDING_REMINDER
    return timedelta(seconds=options.reminder_interval_s)


def onboarding_expiry(options: OnboardingOptions) -> timedelta:
    if options.expiry_s is None:
        return DEFAULT_ONBOARDING_EXPIRY
    return timedelta(seconds=options.expiry_s)
