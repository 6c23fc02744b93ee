"""Inputs, findings and the report of the sweep: what nothing else owns, found and resolved.

The sweep lists every charge at each card gateway and every pending ledger hold, decides
per object who owns it (a running workflow: leave it; a closed one: compare with the
ledger; nobody: an orphan) and resolves what no one will (void/refund at the gateway, void
in the ledger), reporting each object it acted on or left with a reason.

Temporal's default converter (de)serialises these by type hints, so every field is
typed precisely: ints for money, tuples for sequences, datetimes in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from paysaga.domain.routing import KNOWN_GATEWAYS, Routing

# Activity names (the workflow calls them by name; activities/sweep.py implements them).
SWEEP_LIST_GATEWAY: Final = "sweep.list_gateway"
SWEEP_RESOLVE_GATEWAY: Final = "sweep.resolve_gateway"
SWEEP_CLASSIFY: Final = "sweep.classify"
SWEEP_STRANDED_HOLDS: Final = "sweep.stranded_holds"
SWEEP_VOID_HOLD: Final = "sweep.void_hold"
SWEEP_STORE_REPORT: Final = "sweep.store_report"

SWEEP_WORKFLOW: Final = "SweepWorkflow"
SWEEP_SCHEDULE_ID: Final = "paysaga-sweep"
ON_DEMAND_SWEEP_ID: Final = "sweep-on-demand"


class Action(StrEnum):
    NONE = "none"  # nothing to do (owned, consistent, or nothing left to return)
    VOID = "void"  # an authorization nobody will capture: void it at the gateway
    REFUND = "refund"  # captured money nobody booked: refund what is left in full
    VOID_HOLD = "void_hold"  # a ledger hold nobody will post or void
    MANUAL = "manual"  # inconsistent in a way the sweep does not resolve on its own


class Reason(StrEnum):
    OWNED_BY_LIVE_WORKFLOW = "owned_by_live_workflow"
    TOO_YOUNG = "too_young"  # younger than the lag bound: its owner may still book it
    NO_MONEY = "no_money"  # declined, voided, or refunded in full
    BOOKED = "booked"  # the closed workflow's ledger matches the gateway
    ORPHAN = "orphan"  # no payment of ours behind it
    AUTHORIZED_WITHOUT_WORKFLOW = "authorized_without_live_workflow"
    CAPTURED_NOT_BOOKED = "captured_not_booked"
    DUPLICATE_CHARGE = "duplicate_charge"
    LEDGER_MISMATCH = "ledger_mismatch"
    NOT_CANCELABLE = "not_cancelable"  # e.g. an ACH debit still processing
    HOLD_WITHOUT_WORKFLOW = "hold_without_live_workflow"
    ALREADY_RESOLVED = "already_resolved"  # someone else posted/voided it meanwhile
    LISTING_FAILED = "listing_failed"  # the gateway could not be listed this time


@dataclass(frozen=True)
class SweepRequest:
    """A window of `lookback_s` ending `lag_s` before now: younger objects are skipped,
    since their workflow (or the gateway's lagging listing) may not have caught up."""

    gateways: tuple[str, ...] = KNOWN_GATEWAYS
    lookback_s: int = 24 * 3600
    lag_s: int = 600
    slice_s: int = 3600  # the window is listed slice by slice: payloads stay small
    hold_age_s: int = 3600
    sweep_id: str | None = None
    routing: Routing = field(default_factory=Routing)
    dry_run: bool = False  # report only, resolve nothing


@dataclass(frozen=True)
class ListGatewayInput:
    gateway: str
    created_from: datetime
    created_to: datetime


@dataclass(frozen=True)
class GatewayObject:
    """One sale/charge at a gateway as the sweep sees it (from a consistent read)."""

    gateway: str
    reference: str
    payment_id: str  # our id from metadata / order id; "" when none
    state: str  # GatewayPaymentState
    amount_minor: int
    captured_minor: int
    refunded_minor: int
    currency: str
    created_at: datetime

    @property
    def money_minor(self) -> int:
        """What the customer is out of through this object (held or captured, net)."""
        if self.state in ("authorized", "requires_action"):
            return self.amount_minor
        return max(self.captured_minor - self.refunded_minor, 0)


@dataclass(frozen=True)
class GatewayObjects:
    gateway: str
    objects: tuple[GatewayObject, ...]  # those with money; the rest are only counted
    no_money: int = 0


@dataclass(frozen=True)
class Finding:
    """One object the sweep looked at and what it decided, with why."""

    kind: str  # "gateway" | "hold"
    gateway: str
    reference: str  # gateway reference, or the ledger entry id of a hold
    payment_id: str
    amount_minor: int
    currency: str
    reason: Reason
    action: Action
    resolved: bool = False
    detail: str = ""


@dataclass(frozen=True)
class ClassifyInput:
    gateway: str
    objects: tuple[GatewayObject, ...]
    lag_cutoff: datetime


@dataclass(frozen=True)
class Findings:
    """What needs or got action, one by one; everything looked at, counted by reason."""

    findings: tuple[Finding, ...]
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolveInput:
    finding: Finding


@dataclass(frozen=True)
class StrandedHoldsInput:
    older_than: datetime


@dataclass(frozen=True)
class SweepReport:
    sweep_id: str
    started_at: datetime
    window_start: datetime
    window_end: datetime
    gateways: tuple[str, ...]
    examined: int
    findings: tuple[Finding, ...]  # everything acted on or needing attention
    counts: dict[str, int] = field(default_factory=dict)  # every object looked at, by reason
    dry_run: bool = False

    @property
    def unresolved(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.action is not Action.NONE and not f.resolved)
