"""SweepWorkflow on the time-skipping server with fake activities: what it resolves, what it
leaves, and that one gateway failing to list does not stop the sweep."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from paysaga.client.starts import run_sweep
from paysaga.domain import sweep as names
from paysaga.domain.routing import Routing
from paysaga.domain.sweep import (
    Action,
    ClassifyInput,
    Finding,
    Findings,
    GatewayObject,
    GatewayObjects,
    ListGatewayInput,
    Reason,
    ResolveInput,
    StrandedHoldsInput,
    SweepReport,
    SweepRequest,
)
from paysaga.domain.sweep_rules import judge_closed, orphan
from tests.workflows.helpers import worker

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def charge(ref: str, payment_id: str, state: str = "settled") -> GatewayObject:
    captured = 1000 if state in ("captured", "settled") else 0
    return GatewayObject("stripe", ref, payment_id, state, 1000, captured, 0, "USD", T0)


OBJECTS = (
    charge("pi_orphan", ""),
    charge("pi_live", "payment-live", "authorized"),
    charge("pi_booked", "payment-done"),
    charge("pi_extra", "payment-done"),
)
OWNERS = {"payment-live": "running", "payment-done": "closed"}
HOLD = Finding(
    "hold",
    "stripe",
    "0:42",
    "payment-gone",
    700,
    "USD",
    Reason.HOLD_WITHOUT_WORKFLOW,
    Action.VOID_HOLD,
)


def one_slice(task_queue: str, *, dry_run: bool = False) -> SweepRequest:
    """One window slice: the fakes list the same objects for every slice."""
    routing = Routing.single(task_queue)
    return SweepRequest(
        sweep_id=task_queue, routing=routing, lookback_s=3600, slice_s=3600, dry_run=dry_run
    )


@dataclass
class FakeSweep:
    """The sweep's activities over fixed facts; the decisions are the real ones."""

    failing: tuple[str, ...] = ("braintree",)
    resolved: list[str] = field(default_factory=list)
    stored: list[SweepReport] = field(default_factory=list)

    def activities(self) -> list[Any]:
        return [self.list_gateway, self.classify, self.resolve, self.holds, self.void, self.store]

    @activity.defn(name=names.SWEEP_LIST_GATEWAY)
    async def list_gateway(self, request: ListGatewayInput) -> GatewayObjects:
        if request.gateway in self.failing:
            raise ApplicationError("gateway down", type="Unavailable", non_retryable=True)
        return GatewayObjects(request.gateway, OBJECTS)

    @activity.defn(name=names.SWEEP_CLASSIFY)
    async def classify(self, request: ClassifyInput) -> Findings:
        found: list[Finding] = []
        counts: dict[str, int] = {}
        closed = []
        for obj in request.objects:
            owner = OWNERS.get(obj.payment_id, "missing")
            if owner == "running":
                counts[Reason.OWNED_BY_LIVE_WORKFLOW] = 1
            elif owner == "closed":
                closed.append(obj)
            else:
                found.append(orphan(obj))
        for item in judge_closed(closed, 1000):
            if item.action is Action.NONE:
                counts[item.reason] = 1
            else:
                found.append(item)
        return Findings(tuple(found), counts)

    @activity.defn(name=names.SWEEP_RESOLVE_GATEWAY)
    async def resolve(self, request: ResolveInput) -> Finding:
        self.resolved.append(request.finding.reference)
        return replace(request.finding, resolved=True)

    @activity.defn(name=names.SWEEP_STRANDED_HOLDS)
    async def holds(self, request: StrandedHoldsInput) -> Findings:
        return Findings((HOLD,), {Reason.HOLD_WITHOUT_WORKFLOW: 1})

    @activity.defn(name=names.SWEEP_VOID_HOLD)
    async def void(self, request: ResolveInput) -> Finding:
        self.resolved.append(request.finding.reference)
        return replace(request.finding, resolved=True)

    @activity.defn(name=names.SWEEP_STORE_REPORT)
    async def store(self, report: SweepReport) -> None:
        self.stored.append(report)


async def test_sweep_resolves_what_nobody_owns(env: WorkflowEnvironment, task_queue: str) -> None:
    fakes = FakeSweep()
    request = one_slice(task_queue)
    async with worker(env.client, task_queue, fakes.activities()):
        report = await run_sweep(env.client, request, task_queue=task_queue)
    by_ref = {f.reference: f for f in report.findings}
    assert fakes.resolved == ["pi_orphan", "pi_extra", "0:42"]
    assert (by_ref["pi_orphan"].reason, by_ref["pi_orphan"].resolved) == (Reason.ORPHAN, True)
    assert by_ref["pi_extra"].reason is Reason.DUPLICATE_CHARGE
    assert "pi_live" not in by_ref and "pi_booked" not in by_ref
    assert report.counts[Reason.OWNED_BY_LIVE_WORKFLOW] == 1
    assert report.counts[Reason.BOOKED] == 1
    # Braintree could not be listed: reported, and the sweep went on to the holds.
    failed = [f for f in report.findings if f.reason is Reason.LISTING_FAILED]
    assert [f.gateway for f in failed] == ["braintree"] and not failed[0].resolved
    assert report.unresolved == tuple(failed)
    assert fakes.stored == [report] and report.examined == len(OBJECTS) + 1


async def test_dry_run_reports_and_resolves_nothing(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = FakeSweep(failing=())
    request = one_slice(task_queue, dry_run=True)
    async with worker(env.client, task_queue, fakes.activities()):
        report = await run_sweep(env.client, request, task_queue=task_queue)
    assert fakes.resolved == []
    assert {f.reference for f in report.unresolved} == {"pi_orphan", "pi_extra", "0:42"}
