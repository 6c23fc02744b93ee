"""Typed calls of activities by name, each with its task queue and named policy.

Workflows never import activity implementations; the names in domain.activity_names are
the contract. Everything here runs inside the workflow sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    RetryState,
    TimeoutError,
)

from paysaga.domain import activity_names as names
from paysaga.domain.bank_accounts import (
    BalanceCheckInput,
    BalanceCheckResult,
    RecordBankAccountInput,
    RecordBankAccountResult,
)
from paysaga.domain.gateways import (
    GatewayAuthorizeInput,
    GatewayCancelInput,
    GatewayCaptureInput,
    GatewayLookupInput,
    GatewayRefundInput,
    GatewayRefundResult,
    GatewayRefundStatusInput,
    GatewayResult,
    LookupResult,
    RouteDecision,
    RouteRequest,
)
from paysaga.domain.ledger import (
    LedgerCaptureInput,
    LedgerEntryRef,
    LedgerHoldInput,
    LedgerReversalInput,
    LedgerVoidInput,
    TransferLegInput,
)
from paysaga.domain.onboarding import (
    BankAccountInput,
    BankAccountResult,
    BankVerification,
    ExchangeInput,
    ExchangeResult,
    LinkToken,
    LinkTokenInput,
    OpenAccountsInput,
    OpenAccountsResult,
    ReminderInput,
    VerifyInput,
)
from paysaga.domain.reconciliation import (
    ListSettledInput,
    MatchInput,
    MatchResult,
    PostSettlementInput,
    PostSettlementResult,
    ReconciliationReport,
    SettledBatch,
)
from paysaga.domain.routing import Routing
from workflows import policies

T = TypeVar("T")


@dataclass(frozen=True)
class _Opts:
    task_queue: str
    start_to_close: timedelta
    retry: RetryPolicy
    schedule_to_close: timedelta | None = None
    heartbeat: timedelta | None = None
    local: bool = False


def _gateway_opts(
    routing: Routing, gateway: str | None, retry: RetryPolicy = policies.GATEWAY_RETRY
) -> _Opts:
    return _Opts(
        task_queue=routing.gateway_queue(gateway),
        start_to_close=policies.GATEWAY_START_TO_CLOSE,
        retry=retry,
        schedule_to_close=policies.GATEWAY_SCHEDULE_TO_CLOSE,
    )


def _ledger_opts(routing: Routing, retry: RetryPolicy = policies.LEDGER_RETRY) -> _Opts:
    # Only the short postings go local; reconciliation's long, heartbeating ones never do.
    return _Opts(routing.ledger, policies.LEDGER_START_TO_CLOSE, retry, local=routing.local_ledger)


def _long_ledger_opts(routing: Routing) -> _Opts:
    return _Opts(
        routing.ledger,
        policies.LEDGER_LONG_START_TO_CLOSE,
        policies.LEDGER_RETRY,
        heartbeat=policies.LEDGER_HEARTBEAT,
    )


def _start(
    name: str, arg: object, result_type: type[T] | None, opts: _Opts
) -> workflow.ActivityHandle[T]:
    if opts.local:
        local = workflow.start_local_activity(
            name,
            arg,
            result_type=result_type,
            start_to_close_timeout=opts.start_to_close,
            retry_policy=opts.retry,
        )
        return cast(workflow.ActivityHandle[T], local)
    handle = workflow.start_activity(
        name,
        arg,
        result_type=result_type,
        task_queue=opts.task_queue,
        start_to_close_timeout=opts.start_to_close,
        schedule_to_close_timeout=opts.schedule_to_close,
        heartbeat_timeout=opts.heartbeat,
        retry_policy=opts.retry,
    )
    return cast(workflow.ActivityHandle[T], handle)


async def _run(name: str, arg: object, result_type: type[T], opts: _Opts) -> T:
    return await _finish(name, _start(name, arg, result_type, opts))


async def _run_none(name: str, arg: object, opts: _Opts) -> None:
    await _finish(name, _start(name, arg, None, opts))


async def _finish(name: str, handle: workflow.ActivityHandle[T]) -> T:
    try:
        return await handle
    except ActivityError:
        raise
    except FailureError as exc:
        raise _local_activity_error(name) from exc


def _local_activity_error(name: str) -> ActivityError:
    """A local activity's failure arrives bare (ApplicationError, TimeoutError, ...), a
    remote one wrapped in ActivityError, which is what workflows handle: wrap the bare one
    (raised `from` it, so `.cause` is the failure, as for a remote activity)."""
    return ActivityError(
        f"local activity {name} failed",
        scheduled_event_id=0,
        started_event_id=0,
        identity="",
        activity_type=name,
        activity_id="",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )


# ---------------------------------------------------------------- gateways


async def route(routing: Routing, request: RouteRequest) -> RouteDecision:
    opts = _gateway_opts(routing, None, policies.GATEWAY_READ_RETRY)
    return await _run(names.ROUTE_PAYMENT, request, RouteDecision, opts)


def start_authorize(
    routing: Routing, request: GatewayAuthorizeInput
) -> workflow.ActivityHandle[GatewayResult]:
    return _start(names.AUTHORIZE, request, GatewayResult, _gateway_opts(routing, request.gateway))


async def capture(routing: Routing, request: GatewayCaptureInput) -> GatewayResult:
    return await _run(
        names.CAPTURE, request, GatewayResult, _gateway_opts(routing, request.gateway)
    )


async def cancel(routing: Routing, request: GatewayCancelInput, *, compensating: bool) -> None:
    opts = _gateway_opts(routing, request.gateway)
    if compensating:
        opts = replace(opts, retry=policies.COMPENSATION_RETRY, schedule_to_close=None)
    await _run(names.CANCEL, request, GatewayResult, opts)


async def refund(routing: Routing, request: GatewayRefundInput) -> GatewayRefundResult:
    opts = _gateway_opts(routing, request.gateway, policies.REFUND_RETRY)
    return await _run(names.REFUND, request, GatewayRefundResult, opts)


async def refund_status(routing: Routing, request: GatewayRefundStatusInput) -> GatewayRefundResult:
    opts = _gateway_opts(routing, request.gateway, policies.GATEWAY_READ_RETRY)
    return await _run(names.REFUND_STATUS, request, GatewayRefundResult, opts)


async def lookup(routing: Routing, request: GatewayLookupInput) -> LookupResult:
    opts = _gateway_opts(routing, request.gateway, policies.GATEWAY_READ_RETRY)
    return await _run(names.LOOKUP, request, LookupResult, opts)


async def list_settled(routing: Routing, request: ListSettledInput) -> SettledBatch:
    opts = _Opts(
        routing.gateway_queue(request.gateway),
        policies.LIST_SETTLED_START_TO_CLOSE,
        policies.GATEWAY_READ_RETRY,
        heartbeat=policies.LIST_SETTLED_HEARTBEAT,
    )
    return await _run(names.LIST_SETTLED, request, SettledBatch, opts)


# ---------------------------------------------------------------- ledger


async def ledger_hold(routing: Routing, request: LedgerHoldInput) -> LedgerEntryRef:
    return await _run(names.LEDGER_HOLD, request, LedgerEntryRef, _ledger_opts(routing))


async def ledger_void(routing: Routing, request: LedgerVoidInput) -> None:
    await _run_none(names.LEDGER_VOID, request, _ledger_opts(routing, policies.COMPENSATION_RETRY))


async def ledger_capture(
    routing: Routing, request: LedgerCaptureInput, retry: RetryPolicy = policies.LEDGER_RETRY
) -> LedgerEntryRef:
    opts = _ledger_opts(routing, retry)
    return await _run(names.LEDGER_CAPTURE, request, LedgerEntryRef, opts)


async def ledger_reverse(
    routing: Routing, request: LedgerReversalInput, retry: RetryPolicy = policies.LEDGER_RETRY
) -> LedgerEntryRef:
    opts = _ledger_opts(routing, retry)
    return await _run(names.LEDGER_REVERSE, request, LedgerEntryRef, opts)


def retries_exhausted(exc: ActivityError, policy: RetryPolicy) -> bool:
    """Whether `exc` ended an activity only because `policy` ran out of attempts: its
    last failure was one the policy retries (a timeout, a retryable error). A local
    activity's failure arrives without a retry state, so the cause decides for both."""
    cause = exc.cause
    if isinstance(cause, TimeoutError):
        return True
    if isinstance(cause, ApplicationError):
        refused = policy.non_retryable_error_types or ()
        return not cause.non_retryable and cause.type not in refused
    return False


async def transfer_leg(
    routing: Routing, name: str, request: TransferLegInput, *, compensating: bool = False
) -> LedgerEntryRef:
    retry = policies.COMPENSATION_RETRY if compensating else policies.LEDGER_RETRY
    return await _run(name, request, LedgerEntryRef, _ledger_opts(routing, retry))


async def open_customer_accounts(
    routing: Routing, request: OpenAccountsInput
) -> OpenAccountsResult:
    return await _run(
        names.OPEN_CUSTOMER_ACCOUNTS, request, OpenAccountsResult, _ledger_opts(routing)
    )


# ---------------------------------------------------------------- reconciliation


async def recon_match(routing: Routing, request: MatchInput) -> MatchResult:
    return await _run(names.RECON_MATCH, request, MatchResult, _long_ledger_opts(routing))


async def recon_post(routing: Routing, request: PostSettlementInput) -> PostSettlementResult:
    opts = _long_ledger_opts(routing)
    return await _run(names.RECON_POST_SETTLEMENTS, request, PostSettlementResult, opts)


async def recon_store(routing: Routing, report: ReconciliationReport) -> None:
    # Not local: the workflow's worker does not host reconciliation activities.
    await _run_none(names.RECON_STORE_REPORT, report, replace(_ledger_opts(routing), local=False))


# ---------------------------------------------------------------- plaid (generic gateways queue)


async def plaid_link_token(routing: Routing, request: LinkTokenInput) -> LinkToken:
    return await _run(names.PLAID_LINK_TOKEN, request, LinkToken, _gateway_opts(routing, None))


async def plaid_exchange(routing: Routing, request: ExchangeInput) -> ExchangeResult:
    return await _run(names.PLAID_EXCHANGE, request, ExchangeResult, _gateway_opts(routing, None))


async def plaid_verify(routing: Routing, request: VerifyInput) -> BankVerification:
    return await _run(names.PLAID_VERIFY, request, BankVerification, _gateway_opts(routing, None))


async def plaid_bank_account(routing: Routing, request: BankAccountInput) -> BankAccountResult:
    opts = _gateway_opts(routing, None)
    return await _run(names.PLAID_BANK_ACCOUNT, request, BankAccountResult, opts)


async def plaid_remind(routing: Routing, request: ReminderInput) -> None:
    await _run_none(names.PLAID_REMIND, request, _gateway_opts(routing, None))


async def plaid_balance(routing: Routing, request: BalanceCheckInput) -> BalanceCheckResult:
    opts = _gateway_opts(routing, None)
    return await _run(names.PLAID_BALANCE, request, BalanceCheckResult, opts)


async def record_bank_account(
    routing: Routing, request: RecordBankAccountInput
) -> RecordBankAccountResult:
    opts = _Opts(
        routing.gateway_queue(None),
        policies.GATEWAY_START_TO_CLOSE,
        policies.BANK_ACCOUNT_RECORD_RETRY,
    )
    return await _run(names.RECORD_BANK_ACCOUNT, request, RecordBankAccountResult, opts)
