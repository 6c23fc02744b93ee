"""Inputs and results of every workflow, update, signal and activity: frozen dataclasses.

Temporal's default converter (de)serialises these by type hints, so every field is
typed precisely: ints for money, tuples for sequences, datetimes in UTC.
Validation lives here so the workflow, its update validators, the API and the client
all enforce the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from paysaga.domain.errors import ValidationError
from paysaga.domain.money import validate_amount, validate_currency
from paysaga.domain.names import GATEWAYS_TASK_QUEUE, LEDGER_TASK_QUEUE
from paysaga.domain.status import (
    OnboardingStatus,
    PaymentStatus,
    ReconciliationStatus,
    TransferStatus,
)

MethodType = Literal["card", "ach"]
CaptureMode = Literal["automatic", "manual"]
KNOWN_GATEWAYS: tuple[str, ...] = ("stripe", "braintree")


def gateway_task_queue(gateway: str, base: str = GATEWAYS_TASK_QUEUE) -> str:
    """One task queue per gateway, so each gets its own server-side rate limit."""
    return f"{base}-{gateway}"


@dataclass(frozen=True)
class Routing:
    """Where a workflow sends its activities. Tests route everything to one fresh queue."""

    gateways: str = GATEWAYS_TASK_QUEUE
    ledger: str = LEDGER_TASK_QUEUE
    per_gateway: bool = True
    # True: ledger postings (short, idempotent database writes) run as local activities in
    # the worker that runs the workflow, which therefore hosts the ledger (every `--queue
    # payments` worker does); a task queue round trip less per posting. New work gets
    # DEFAULT_ROUTING (True). The field's own default stays False: it is what a recorded
    # input without the field meant, so those workflows replay as they ran.
    local_ledger: bool = False

    @classmethod
    def single(cls, task_queue: str) -> Routing:
        return cls(gateways=task_queue, ledger=task_queue, per_gateway=False)

    def gateway_queue(self, gateway: str | None) -> str:
        if gateway and self.per_gateway:
            return gateway_task_queue(gateway, self.gateways)
        return self.gateways


# What clients start new payments, onboardings and transfers with.
DEFAULT_ROUTING = Routing(local_ledger=True)


# --------------------------------------------------------------------------- payments


@dataclass(frozen=True)
class PaymentOptions:
    """Per-payment overrides; None means the default of workflows.policies."""

    dunning_schedule_s: tuple[int, ...] | None = None  # offsets from the first attempt
    authorization_expiry_s: int | None = None
    ach_settlement_wait_s: int | None = None
    refund_window_s: int | None = None  # how long the workflow stays open for refunds
    max_events_per_run: int | None = None  # continue-as-new threshold


@dataclass(frozen=True)
class PaymentRequest:
    idempotency_key: str
    merchant_id: str
    customer_id: str
    amount_minor: int
    currency: str
    payment_method: str  # pm_... / nonce / vaulted token; never a card number
    method_type: MethodType = "card"
    capture_mode: CaptureMode = "automatic"
    preferred_gateway: str | None = None
    description: str = ""
    customer_ref: str | None = None  # vaulted customer at the gateway, when known
    options: PaymentOptions = field(default_factory=PaymentOptions)
    routing: Routing = field(default_factory=Routing)
    # Set only by the workflow itself when it continues as new: the state to resume from.
    # (One input argument: Temporal decodes by type hints only when the counts match.)
    carried: PaymentView | None = None

    def validate(self) -> None:
        if not self.idempotency_key or len(self.idempotency_key) > 200:
            raise ValidationError(
                "idempotency_key must be 1-200 characters", field="idempotency_key"
            )
        for name in ("merchant_id", "customer_id", "payment_method"):
            if not getattr(self, name):
                raise ValidationError(f"{name} is required", field=name)
        validate_amount(self.amount_minor)
        validate_currency(self.currency)
        if self.method_type not in ("card", "ach"):
            raise ValidationError("method_type must be card or ach", field="method_type")
        if self.capture_mode not in ("automatic", "manual"):
            raise ValidationError("capture_mode must be automatic or manual", field="capture_mode")
        if self.method_type == "ach" and self.capture_mode == "manual":
            raise ValidationError("ACH debits cannot be captured later", field="capture_mode")
        if self.preferred_gateway is not None and self.preferred_gateway not in KNOWN_GATEWAYS:
            raise ValidationError(
                f"unknown gateway {self.preferred_gateway!r}", field="preferred_gateway"
            )
        schedule = self.options.dunning_schedule_s
        if schedule is not None and any(
            b <= a for a, b in zip((0, *schedule), schedule, strict=False)
        ):
            raise ValidationError(
                "dunning schedule must be increasing positive offsets", field="options"
            )


@dataclass(frozen=True)
class CaptureRequest:
    request_id: str
    amount_minor: int | None = None  # None captures the full authorization


@dataclass(frozen=True)
class CancelRequest:
    request_id: str
    reason: str = "requested_by_customer"


@dataclass(frozen=True)
class RefundRequest:
    request_id: str
    amount_minor: int
    currency: str
    reason: str = ""


@dataclass(frozen=True)
class StepRecord:
    name: str
    at: datetime
    detail: str = ""


@dataclass(frozen=True)
class RefundRecord:
    request_id: str
    amount_minor: int
    reference: str
    status: str
    at: datetime


@dataclass(frozen=True)
class RefundOutcome:
    request_id: str
    reference: str
    amount_minor: int
    currency: str
    status: str
    refunded_total_minor: int


@dataclass(frozen=True)
class PaymentView:
    """The `status` query: the payment's full live state. Also carried over continue-as-new."""

    payment_id: str
    status: PaymentStatus
    amount_minor: int
    currency: str
    method_type: str
    capture_mode: str
    merchant_id: str
    customer_id: str
    gateway: str | None = None
    reference: str | None = None
    authorized_minor: int = 0
    captured_minor: int = 0
    refunded_minor: int = 0
    attempts: int = 0
    steps: tuple[StepRecord, ...] = ()
    last_error: str | None = None
    decline_code: str | None = None
    next_retry_at: datetime | None = None
    authorization_expires_at: datetime | None = None
    events_seen: tuple[str, ...] = ()
    refunds: tuple[RefundRecord, ...] = ()
    hold_entry_id: str | None = None
    capture_entry_id: str | None = None
    runs: int = 1


def check_capture(view: PaymentView, request: CaptureRequest) -> None:
    if view.status != PaymentStatus.AWAITING_CAPTURE:
        raise ValidationError(f"cannot capture a payment in status {view.status}", field="status")
    if request.amount_minor is not None:
        validate_amount(request.amount_minor)
        if request.amount_minor > view.authorized_minor:
            raise ValidationError("capture exceeds the authorized amount", field="amount_minor")


def check_cancel(view: PaymentView) -> None:
    if view.status not in (
        PaymentStatus.AWAITING_CAPTURE,
        PaymentStatus.RETRY_SCHEDULED,
        PaymentStatus.REQUIRES_ACTION,
    ):
        raise ValidationError(f"cannot cancel a payment in status {view.status}", field="status")


def check_refund(view: PaymentView, request: RefundRequest, reserved_minor: int = 0) -> None:
    """Refund only after capture, never beyond captured minus refunded, same currency."""
    if not request.request_id:
        raise ValidationError("request_id is required", field="request_id")
    validate_amount(request.amount_minor)
    validate_currency(request.currency)
    if view.status not in (
        PaymentStatus.CAPTURED,
        PaymentStatus.SETTLED,
        PaymentStatus.PARTIALLY_REFUNDED,
    ):
        raise ValidationError(f"cannot refund a payment in status {view.status}", field="status")
    if request.currency != view.currency:
        raise ValidationError(
            f"refund currency {request.currency} differs from payment currency {view.currency}",
            field="currency",
        )
    available = view.captured_minor - view.refunded_minor - reserved_minor
    if request.amount_minor > available:
        raise ValidationError(
            f"refund of {request.amount_minor} exceeds the refundable {available}",
            field="amount_minor",
        )


# --------------------------------------------------------------------------- webhooks


class EventKind(StrEnum):
    """Gateway webhooks, normalised by the API's webhook ingress."""

    PAYMENT_REQUIRES_ACTION = "payment.requires_action"
    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_CAPTURED = "payment.captured"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_CANCELED = "payment.canceled"
    ACH_SETTLED = "ach.settled"
    ACH_RETURNED = "ach.returned"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    SETTLEMENT_MATCHED = "settlement.matched"  # from reconciliation
    SETTLEMENT_EXCEPTION = "settlement.exception"  # from reconciliation


@dataclass(frozen=True)
class GatewayEvent:
    event_id: str
    gateway: str
    kind: EventKind
    occurred_at: datetime
    reference: str | None = None
    payment_id: str | None = None
    amount_minor: int | None = None
    data: dict[str, str] = field(default_factory=dict)  # e.g. return_code, decline_code


# --------------------------------------------------------------------------- gateway activities


@dataclass(frozen=True)
class RouteRequest:
    payment_id: str
    amount_minor: int
    currency: str
    method_type: str
    preferred_gateway: str | None = None


@dataclass(frozen=True)
class RouteDecision:
    gateways: tuple[str, ...]  # in the order to try; the next ones are failovers


@dataclass(frozen=True)
class GatewayAuthorizeInput:
    gateway: str
    idempotency_key: str
    payment_id: str
    amount_minor: int
    currency: str
    payment_method: str
    capture_now: bool
    customer_ref: str | None = None
    description: str = ""
    method_type: str = "card"  # ach: a bank debit that settles days later


@dataclass(frozen=True)
class GatewayCaptureInput:
    gateway: str
    idempotency_key: str
    reference: str
    amount_minor: int | None = None


@dataclass(frozen=True)
class GatewayCancelInput:
    gateway: str
    idempotency_key: str
    reference: str


@dataclass(frozen=True)
class GatewayRefundInput:
    gateway: str
    idempotency_key: str
    reference: str
    amount_minor: int


@dataclass(frozen=True)
class GatewayLookupInput:
    gateway: str
    payment_id: str
    reference: str | None = None  # retrieve by reference when known


@dataclass(frozen=True)
class GatewayResult:
    """A gateway's view of one payment (mirror of gateways.types.GatewayPayment)."""

    gateway: str
    reference: str
    payment_id: str
    state: str  # GatewayPaymentState value
    amount_minor: int
    captured_minor: int
    refunded_minor: int
    currency: str
    decline_code: str | None = None


@dataclass(frozen=True)
class LookupResult:
    found: bool
    payment: GatewayResult | None = None


@dataclass(frozen=True)
class GatewayRefundResult:
    gateway: str
    reference: str
    payment_reference: str
    amount_minor: int
    currency: str
    status: str


# --------------------------------------------------------------------------- ledger activities


@dataclass(frozen=True)
class LedgerHoldInput:
    payment_id: str
    idempotency_key: str
    merchant_id: str
    customer_id: str
    gateway: str
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class LedgerVoidInput:
    payment_id: str
    idempotency_key: str
    entry_id: str


@dataclass(frozen=True)
class LedgerCaptureInput:
    """Post the capture: settle the pending hold for the captured amount."""

    payment_id: str
    idempotency_key: str
    hold_entry_id: str | None
    merchant_id: str
    gateway: str
    gateway_reference: str
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class LedgerReversalInput:
    """Reverse (part of) a captured payment: a refund or an ACH return."""

    payment_id: str
    idempotency_key: str
    merchant_id: str
    gateway: str
    gateway_reference: str
    amount_minor: int
    currency: str
    reason: str  # refund | ach_return
    refund_reference: str | None = None
    entry_id: str | None = None  # the capture entry being reversed


@dataclass(frozen=True)
class LedgerEntryRef:
    entry_id: str
    shard: int | None = None


# --------------------------------------------------------------------------- reconciliation


class ExceptionKind(StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_AT_GATEWAY = "missing_at_gateway"
    AMOUNT_MISMATCH = "amount_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class ReconciliationRequest:
    """Period None means: the previous whole UTC day (what the daily schedule wants)."""

    period_start: datetime | None = None
    period_end: datetime | None = None
    gateways: tuple[str, ...] = KNOWN_GATEWAYS
    report_id: str | None = None
    routing: Routing = field(default_factory=Routing)
    signal_payments: bool = True


@dataclass(frozen=True)
class SettledItem:
    gateway: str
    reference: str
    payment_id: str | None
    kind: str  # charge | refund
    amount_minor: int
    fee_minor: int
    currency: str
    settled_at: datetime
    refund_reference: str | None = None


@dataclass(frozen=True)
class ListSettledInput:
    gateway: str
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True)
class SettledBatch:
    gateway: str
    items: tuple[SettledItem, ...]


@dataclass(frozen=True)
class LedgerItem:
    """One ledger fact reconciliation compares with the gateway: a capture or a refund."""

    gateway: str
    reference: str  # payment's gateway reference
    payment_id: str
    kind: str  # charge | refund
    amount_minor: int
    currency: str
    entry_id: str
    refund_reference: str | None = None


@dataclass(frozen=True)
class MatchInput:
    report_id: str
    gateway: str
    period_start: datetime
    period_end: datetime
    items: tuple[SettledItem, ...]


@dataclass(frozen=True)
class MatchedItem:
    item: SettledItem
    entry_id: str
    payment_id: str


@dataclass(frozen=True)
class ReconException:
    kind: ExceptionKind
    gateway: str
    reference: str
    payment_id: str | None
    currency: str
    expected_minor: int | None = None  # ledger side
    actual_minor: int | None = None  # gateway side
    detail: str = ""


@dataclass(frozen=True)
class MatchResult:
    matched: tuple[MatchedItem, ...]
    exceptions: tuple[ReconException, ...]


@dataclass(frozen=True)
class PostSettlementInput:
    report_id: str
    gateway: str
    matched: tuple[MatchedItem, ...]


@dataclass(frozen=True)
class PostSettlementResult:
    posted: int
    fees_minor: dict[str, int] = field(default_factory=dict)  # currency -> fees


@dataclass(frozen=True)
class ReconciliationReport:
    report_id: str
    period_start: datetime
    period_end: datetime
    gateways: tuple[str, ...]
    status: ReconciliationStatus
    matched_count: int
    exceptions: tuple[ReconException, ...]
    settlements_posted: int = 0
    fees_minor: dict[str, int] = field(default_factory=dict)
    payments_signaled: int = 0


# --------------------------------------------------------------------------- cross-shard transfer


@dataclass(frozen=True)
class TransferRequest:
    transfer_id: str
    from_account: str
    to_account: str
    amount_minor: int
    currency: str
    description: str = ""
    routing: Routing = field(default_factory=Routing)

    def validate(self) -> None:
        if not self.transfer_id:
            raise ValidationError("transfer_id is required", field="transfer_id")
        if self.from_account == self.to_account:
            raise ValidationError("from and to accounts must differ", field="to_account")
        validate_amount(self.amount_minor)
        validate_currency(self.currency)


TransferSide = Literal["source", "destination"]


@dataclass(frozen=True)
class TransferLegInput:
    """One shard's half of a cross-shard transfer (pending, post or void)."""

    transfer_id: str
    side: TransferSide
    from_account: str
    to_account: str
    amount_minor: int
    currency: str
    entry_id: str | None = None  # for post / void


@dataclass(frozen=True)
class TransferView:
    transfer_id: str
    status: TransferStatus
    steps: tuple[StepRecord, ...] = ()
    source_entry_id: str | None = None
    destination_entry_id: str | None = None
    last_error: str | None = None


# --------------------------------------------------------------------------- onboarding


@dataclass(frozen=True)
class OnboardingOptions:
    reminder_interval_s: int | None = None
    expiry_s: int | None = None


@dataclass(frozen=True)
class OnboardingRequest:
    onboarding_id: str
    customer_id: str
    legal_name: str
    email: str
    currency: str = "USD"
    options: OnboardingOptions = field(default_factory=OnboardingOptions)
    routing: Routing = field(default_factory=Routing)

    def validate(self) -> None:
        for name in ("onboarding_id", "customer_id", "legal_name"):
            if not getattr(self, name):
                raise ValidationError(f"{name} is required", field=name)
        validate_currency(self.currency)


@dataclass(frozen=True)
class PublicTokenSubmission:
    public_token: str
    account_id: str | None = None  # the account the customer picked in Link


@dataclass(frozen=True)
class LinkTokenInput:
    onboarding_id: str
    customer_id: str
    legal_name: str
    email: str


@dataclass(frozen=True)
class LinkToken:
    link_token: str
    expiration: datetime | None = None


@dataclass(frozen=True)
class ExchangeInput:
    onboarding_id: str
    public_token: str


@dataclass(frozen=True)
class ExchangeResult:
    item_id: str
    access_token_ref: str  # id in the secret store; never the token itself


@dataclass(frozen=True)
class VerifyInput:
    onboarding_id: str
    access_token_ref: str
    account_id: str | None = None


@dataclass(frozen=True)
class BankVerification:
    account_id: str
    mask: str
    owner_names: tuple[str, ...]
    has_ach_numbers: bool


@dataclass(frozen=True)
class BankAccountInput:
    onboarding_id: str
    customer_id: str
    legal_name: str
    email: str
    access_token_ref: str
    account_id: str


@dataclass(frozen=True)
class BankAccountResult:
    customer_ref: str
    bank_account_ref: str


@dataclass(frozen=True)
class OpenAccountsInput:
    customer_id: str
    currency: str


@dataclass(frozen=True)
class OpenAccountsResult:
    accounts: tuple[str, ...]


@dataclass(frozen=True)
class ReminderInput:
    onboarding_id: str
    customer_id: str
    number: int


@dataclass(frozen=True)
class OnboardingView:
    onboarding_id: str
    customer_id: str
    status: OnboardingStatus
    link_token: str | None = None
    steps: tuple[StepRecord, ...] = ()
    reminders_sent: int = 0
    expires_at: datetime | None = None
    item_id: str | None = None
    bank_account_ref: str | None = None
    customer_ref: str | None = None
    accounts: tuple[str, ...] = ()
    last_error: str | None = None


def normalise_name(name: str) -> tuple[str, ...]:
    return tuple(
        sorted(
            part
            for part in "".join(ch.lower() if ch.isalnum() else " " for ch in name).split()
            if part
        )
    )


def names_match(expected: str, candidates: tuple[str, ...]) -> bool:
    """Owner name check: same words, or first and last name present, case-insensitively."""
    want = normalise_name(expected)
    if not want:
        return False
    for candidate in candidates:
        have = normalise_name(candidate)
        if have == want:
            return True
        words = expected.lower().split()
        if len(words) >= 2 and {words[0], words[-1]} <= set(have):
            return True
    return False
