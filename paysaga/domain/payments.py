"""A payment's wire types: its request, the capture/cancel updates, and the live view.

Validation lives here so the workflow, its update validators, the API and the client
all enforce the same rules.

Temporal's default converter (de)serialises these by type hints, so every field is
typed precisely: ints for money, tuples for sequences, datetimes in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from paysaga.domain.bank_accounts import BankAccountRef
from paysaga.domain.errors import ValidationError
from paysaga.domain.money import validate_amount, validate_currency
from paysaga.domain.pan import refuse_card_numbers
from paysaga.domain.refunds import RefundRecord
from paysaga.domain.routing import KNOWN_GATEWAYS, Routing
from paysaga.domain.status import PaymentStatus

MethodType = Literal["card", "ach"]


CaptureMode = Literal["automatic", "manual"]

# Metadata of request fields added after requests were first hashed (client.starts keeps a
# digest of each start's request to tell a replay from a conflicting reuse of a key): left
# out of the digest while at their default, so a request that does not use them hashes
# as it did before they existed.
ADDED_LATER: Final[dict[str, Any]] = {"omit_default_from_digest": True}


@dataclass(frozen=True)
class PaymentOptions:
    """Per-payment overrides; None means the default of workflows.policies."""

    dunning_schedule_s: tuple[int, ...] | None = None  # offsets from the first attempt
    authorization_expiry_s: int | None = None
    ach_settlement_wait_s: int | None = None
    refund_window_s: int | None = None  # how long the workflow stays open for refunds
    max_events_per_run: int | None = None  # continue-as-new threshold
    # ACH only: ask Plaid for the account's balance before the debit, and decline with
    # `insufficient_funds_precheck` when the available balance is below the amount.
    balance_check: bool = field(default=False, metadata=ADDED_LATER)


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
    # The onboarded bank account an ACH debit draws on (its gateway refs are in
    # customer_ref and payment_method, resolved by the client).
    bank_account: BankAccountRef | None = field(default=None, metadata=ADDED_LATER)
    routing: Routing = field(default_factory=Routing)
    # Set only by the workflow itself when it continues as new: the state to resume from.
    # (One input argument: Temporal decodes by type hints only when the counts match.)
    carried: PaymentView | None = None

    def validate(self, *, card_numbers: bool = True) -> None:
        """Domain rules; first (`card_numbers`) that no field holds a card number, so no
        message below can echo one. The workflow skips that for histories recorded
        before it (workflows.payment.workflow)."""
        if card_numbers:
            refuse_card_numbers(self)
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
        if self.options.balance_check and self.bank_account is None:
            raise ValidationError(
                "balance_check needs a bank account (bank_account_id)", field="balance_check"
            )
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
class StepRecord:
    name: str
    at: datetime
    detail: str = ""


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
    # When the refund window ends; carried across continue-as-new so it does not restart.
    refund_window_ends_at: datetime | None = None
    bank_account_id: str | None = None  # the bank account an ACH debit draws on

    @classmethod
    def pending(cls, payment_id: str, request: PaymentRequest) -> PaymentView:
        """A payment just started: what the workflow begins with and a fresh start returns."""
        return cls(
            payment_id=payment_id,
            status=PaymentStatus.PENDING,
            amount_minor=request.amount_minor,
            currency=request.currency,
            method_type=request.method_type,
            capture_mode=request.capture_mode,
            merchant_id=request.merchant_id,
            customer_id=request.customer_id,
            bank_account_id=request.bank_account.bank_account_id if request.bank_account else None,
        )


def check_capture(view: PaymentView, request: CaptureRequest) -> None:
    refuse_card_numbers(request)
    if view.status != PaymentStatus.AWAITING_CAPTURE:
        raise ValidationError(f"cannot capture a payment in status {view.status}", field="status")
    if request.amount_minor is not None:
        validate_amount(request.amount_minor)
        if request.amount_minor > view.authorized_minor:
            raise ValidationError("capture exceeds the authorized amount", field="amount_minor")


def check_cancel(view: PaymentView, request: CancelRequest | None = None) -> None:
    if request is not None:
        refuse_card_numbers(request)
    if view.status not in (
        PaymentStatus.AWAITING_CAPTURE,
        PaymentStatus.RETRY_SCHEDULED,
        PaymentStatus.REQUIRES_ACTION,
    ):
        raise ValidationError(f"cannot cancel a payment in status {view.status}", field="status")
