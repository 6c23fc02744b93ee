"""Payloads of the card-gateway Protocol: frozen dataclasses, integer minor units."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class MalformedGatewayData(TypeError):
    """An answer field of an unexpected type (API versions drift). A TypeError, not a
    gateway error: after a write, the activity takes it as an unknown outcome, and it
    never reaches a workflow, whose decoding of the result would fail on every replay."""


def _require(instance: object, kind: type | tuple[type, ...], *names: str) -> None:
    for name in names:
        value = getattr(instance, name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise MalformedGatewayData(
                f"{type(instance).__name__}.{name} is a {type(value).__name__}"
            )


class GatewayName(StrEnum):
    STRIPE = "stripe"
    BRAINTREE = "braintree"


class GatewayPaymentState(StrEnum):
    REQUIRES_ACTION = "requires_action"  # 3DS-like challenge: customer must act
    AUTHORIZED = "authorized"  # funds held, not captured
    PROCESSING = "processing"  # ACH debit submitted, not settled
    CAPTURED = "captured"  # submitted for settlement / captured
    SETTLED = "settled"
    CANCELED = "canceled"  # authorization voided
    FAILED = "failed"


@dataclass(frozen=True)
class VaultedCustomer:
    gateway: str
    customer_ref: str  # cus_... / Braintree customer id
    payment_method_ref: str  # pm_... / Braintree payment method token


@dataclass(frozen=True)
class AuthorizeRequest:
    idempotency_key: str  # "{workflow_id}:{step}"
    payment_id: str  # ours; stored as gateway metadata / order id for lookups
    amount_minor: int
    currency: str
    payment_method: str  # pm_... / nonce / vaulted token
    customer_ref: str | None = None
    description: str = ""
    capture_now: bool = False
    tag_attempt: bool = False  # record idempotency_key as the attempt (Stripe metadata)


@dataclass(frozen=True)
class GatewayPayment:
    gateway: str
    reference: str  # pi_... / Braintree transaction id
    payment_id: str
    state: GatewayPaymentState
    amount_minor: int  # authorized amount
    captured_minor: int
    refunded_minor: int
    currency: str
    decline_code: str | None = None

    def __post_init__(self) -> None:
        _require(self, str, "gateway", "reference", "payment_id", "state", "currency")
        _require(self, int, "amount_minor", "captured_minor", "refunded_minor")
        _require(self, (str, type(None)), "decline_code")


@dataclass(frozen=True)
class RefundResult:
    gateway: str
    reference: str  # re_... / Braintree refund transaction id
    payment_reference: str
    amount_minor: int
    currency: str
    status: str  # succeeded | pending | failed

    def __post_init__(self) -> None:
        _require(self, str, "gateway", "reference", "payment_reference", "currency", "status")
        _require(self, int, "amount_minor")


@dataclass(frozen=True)
class SettledTransaction:
    """One line of a gateway's settlement listing, as reconciliation reads it."""

    gateway: str
    reference: str  # the payment's gateway reference
    payment_id: str | None  # our id from metadata / order id, when present
    kind: str  # "charge" | "refund"
    amount_minor: int  # gross, positive
    fee_minor: int
    currency: str
    settled_at: datetime
    refund_reference: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
