"""Inputs and results of the gateway activities (route, authorize, capture, cancel,
refund, look up).

Temporal's default converter (de)serialises these by type hints, so every field is
typed precisely: ints for money, tuples for sequences, datetimes in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
    # Tag the gateway's record with this attempt (Stripe metadata `attempt` = the key) so
    # lookups can tell attempts apart; False for workflows from before (same request body).
    tag_attempt: bool = False


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
    # The workflow resends a refund that provably was not sent (FailureDetails.not_charged)
    # itself, so such failures are final for the activity: a Temporal retry could not
    # know that nothing was sent and, at a gateway without idempotency keys, would have
    # to wait out the search lag before refunding.
    workflow_resends_unsent: bool = False


@dataclass(frozen=True)
class GatewayRefundStatusInput:
    """Read a refund's current status by its own id (re_... / the credit's id)."""

    gateway: str
    reference: str


@dataclass(frozen=True)
class GatewayLookupInput:
    gateway: str
    payment_id: str
    reference: str | None = None  # retrieve by reference when known
    # One attempt only: Stripe by its `attempt` metadata (= the attempt's idempotency key),
    # Braintree by sales of our order id created since `since` (it has no attempt tag).
    attempt_key: str | None = None
    since: datetime | None = None


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
