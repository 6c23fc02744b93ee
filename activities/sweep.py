"""Sweep activities: find money and holds that nothing owns, and give them back.

Gateway side (on each gateway's own task queue, so its rate limit holds): list every
charge in a window, and resolve one (void or refund in full) after re-reading it from the
gateway's primary record. Ledger side (ledger queue): decide ownership (describe the
owning workflow; compare a closed one's ledger with the gateway), list holds nobody will
resolve and void them, store the report (table sweep_reports on shard 0, Alembic branch
"sweep"). Every resolving call carries a key derived from the object it resolves, so a
retry or a second sweep does nothing twice.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, fields, replace
from datetime import datetime
from typing import Any, Protocol

import psycopg
import structlog
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import invalid_request, translated
from ledger.entry_reads import read_entries
from ledger.errors import AlreadyPosted, AlreadyVoided, PendingExpired
from ledger.service import Ledger
from ledger.types import StoredEntry
from paysaga.domain import sweep as names
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
)
from paysaga.domain.sweep_rules import judge_closed, orphan
from paysaga.gateways.base import CardGateway
from paysaga.gateways.types import GatewayPayment, GatewayPaymentState

log = structlog.get_logger()
_DESCRIBES_AT_ONCE = 16

# Holds never posted nor voided (the one-resolution index makes NOT EXISTS cheap).
_STRANDED = (
    "e.kind = 'pending' AND e.created_at < %s AND NOT EXISTS"
    " (SELECT 1 FROM ledger_entries r WHERE r.pending_id = e.id)"
)

_UPSERT = """
INSERT INTO sweep_reports (sweep_id, started_at, window_start, window_end, gateways,
    examined, unresolved, counts, findings, dry_run)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s)
ON CONFLICT (sweep_id) DO UPDATE SET
    examined = EXCLUDED.examined, unresolved = EXCLUDED.unresolved, counts = EXCLUDED.counts,
    findings = EXCLUDED.findings, updated_at = now()
"""


class Lister(Protocol):
    def list_payments(
        self, created_from: datetime, created_to: datetime
    ) -> list[tuple[GatewayPayment, datetime]]: ...


def resolve_key(finding: Finding, step: str) -> str:
    """The idempotency key of a resolving call: derived from the object, not the sweep run."""
    return f"sweep:{finding.gateway}:{finding.reference}:{step}"


def _object(payment: GatewayPayment, created: datetime) -> GatewayObject:
    # GatewayObject is GatewayPayment's money fields plus the creation time.
    shared: dict[str, Any] = {f.name: getattr(payment, f.name, None) for f in fields(GatewayObject)}
    shared.update(state=str(payment.state), created_at=created)
    return GatewayObject(**shared)


class SweepGatewayActivities:
    def __init__(self, gateways: Mapping[str, CardGateway]) -> None:
        self.gateways = dict(gateways)

    def activities(self) -> list[Callable[..., object]]:
        return [self.list_gateway, self.resolve_gateway]

    def _gateway(self, name: str) -> CardGateway:
        try:
            return self.gateways[name]
        except KeyError:
            raise invalid_request(f"gateway {name!r} is not configured") from None

    @activity.defn(name=names.SWEEP_LIST_GATEWAY)
    async def list_gateway(self, request: ListGatewayInput) -> GatewayObjects:
        gateway = self._gateway(request.gateway)
        if not hasattr(gateway, "list_payments"):
            raise invalid_request(f"gateway {request.gateway!r} cannot list its payments")
        lister: Lister = gateway  # type: ignore[assignment]
        activity.heartbeat(request.gateway)
        with translated():
            rows = await asyncio.to_thread(
                lister.list_payments, request.created_from, request.created_to
            )
        objects = [_object(p, at) for p, at in rows]
        with_money = tuple(o for o in objects if o.money_minor > 0)
        log.info("sweep.listed", gateway=request.gateway, count=len(rows))
        return GatewayObjects(request.gateway, with_money, len(objects) - len(with_money))

    @activity.defn(name=names.SWEEP_RESOLVE_GATEWAY)
    async def resolve_gateway(self, request: ResolveInput) -> Finding:
        """Give back what the object holds now (re-read: the listing may be stale)."""
        found = request.finding
        gateway = self._gateway(found.gateway)
        with translated():
            current = await asyncio.to_thread(gateway.retrieve, found.reference)
            state = current.state
            if state in (GatewayPaymentState.AUTHORIZED, GatewayPaymentState.REQUIRES_ACTION):
                key = resolve_key(found, "void")
                await asyncio.to_thread(gateway.cancel, key, found.reference)
                done = replace(found, resolved=True, detail=_join(found.detail, "voided"))
            elif state in (GatewayPaymentState.CAPTURED, GatewayPaymentState.SETTLED):
                left = current.captured_minor - current.refunded_minor
                if left <= 0:
                    done = replace(found, resolved=True, detail=_join(found.detail, "refunded"))
                else:
                    key = resolve_key(found, "refund")
                    refund = await asyncio.to_thread(gateway.refund, key, found.reference, left)
                    note = f"refund {refund.reference} of {left}: {refund.status}"
                    done = replace(
                        found,
                        resolved=refund.status != "failed",
                        detail=_join(found.detail, note),
                    )
            elif state in (GatewayPaymentState.CANCELED, GatewayPaymentState.FAILED):
                done = replace(found, resolved=True, detail=_join(found.detail, str(state)))
            else:  # processing: nothing to void or refund yet; a later sweep sees it again
                done = replace(found, detail=_join(found.detail, f"left {state}"))
        log.info(
            "sweep.resolved",
            gateway=found.gateway,
            reference=found.reference,
            reason=str(found.reason),
            resolved=done.resolved,
        )
        return done


def _join(detail: str, more: str) -> str:
    return f"{detail}; {more}" if detail else more


_HELD = ("charge", "refund_failure")


def booked_net(entries: list[StoredEntry], gateway: str) -> int:
    """What a payment's ledger booked as captured at `gateway`, net of its reversals."""
    net = 0
    for entry in entries:
        meta: dict[str, Any] = entry.metadata or {}
        if meta.get("gateway") != gateway:
            continue
        amount = max((leg.posted_minor for leg in entry.legs), default=0)
        # A failed refund's un-booking ("refund_failure") books the money back as held.
        if entry.kind in ("post_pending", "standard") and meta.get("kind") in _HELD:
            net += amount
        elif entry.kind == "reversal":
            net -= amount
    return net


def hold_owner(entry: StoredEntry) -> str | None:
    """The workflow that placed a hold: a payment's, or a cross-shard transfer's."""
    meta: dict[str, Any] = entry.metadata or {}
    if meta.get("payment_id"):
        return str(meta["payment_id"])
    if meta.get("transfer_id"):
        return f"transfer-{meta['transfer_id']}"
    return None


class SweepLedgerActivities:
    def __init__(self, ledger: Ledger, temporal: Client, report_dsn: str) -> None:
        self.ledger = ledger
        self.temporal = temporal
        self.report_dsn = report_dsn

    def activities(self) -> list[Callable[..., object]]:
        return [self.classify, self.stranded_holds, self.void_hold, self.store_report]

    async def _owner(self, workflow_id: str) -> str:
        """ "running", "closed" or "missing" (never started, or past retention)."""
        try:
            desc = await self.temporal.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return "missing"
            raise
        return "running" if desc.status == WorkflowExecutionStatus.RUNNING else "closed"

    async def _owners(self, workflow_ids: set[str]) -> dict[str, str]:
        """`_owner` of each id, a few describes at a time (heartbeating as they come)."""
        gate = asyncio.Semaphore(_DESCRIBES_AT_ONCE)

        async def one(workflow_id: str) -> tuple[str, str]:
            async with gate:
                activity.heartbeat(workflow_id)
                return workflow_id, await self._owner(workflow_id)

        return dict(await asyncio.gather(*(one(w) for w in sorted(workflow_ids))))

    @activity.defn(name=names.SWEEP_CLASSIFY)
    async def classify(self, request: ClassifyInput) -> Findings:
        counts: Counter[str] = Counter()
        findings: list[Finding] = []
        owned: list[GatewayObject] = []
        for obj in request.objects:
            if obj.money_minor == 0:
                counts[Reason.NO_MONEY] += 1
            elif obj.created_at >= request.lag_cutoff:
                counts[Reason.TOO_YOUNG] += 1
            elif not obj.payment_id:
                findings.append(orphan(obj))
            else:
                owned.append(obj)
        owners = await self._owners({o.payment_id for o in owned})
        closed: dict[str, list[GatewayObject]] = defaultdict(list)
        for obj in owned:
            if owners[obj.payment_id] == "running":
                counts[Reason.OWNED_BY_LIVE_WORKFLOW] += 1
            elif owners[obj.payment_id] == "missing":
                findings.append(orphan(obj))
            else:
                closed[obj.payment_id].append(obj)
        with translated():
            for payment_id, objects in sorted(closed.items()):
                entries = await self.ledger.find_entries("payment_id", payment_id)
                for item in judge_closed(objects, booked_net(entries, request.gateway)):
                    if item.action is Action.NONE:
                        counts[item.reason] += 1
                    else:
                        findings.append(item)
        counts.update(f.reason for f in findings)
        log.info("sweep.classified", gateway=request.gateway, findings=len(findings))
        return Findings(tuple(findings), {str(k): v for k, v in counts.items()})

    @activity.defn(name=names.SWEEP_STRANDED_HOLDS)
    async def stranded_holds(self, request: StrandedHoldsInput) -> Findings:
        counts: Counter[str] = Counter()
        findings: list[Finding] = []
        entries: list[StoredEntry] = []
        with translated():
            for shard in range(self.ledger.shards.count):
                async with self.ledger.shards.connection(shard) as conn:
                    entries += await read_entries(conn, shard, _STRANDED, (request.older_than,))
        owners = await self._owners({o for o in map(hold_owner, entries) if o})
        for entry in entries:
            owner = hold_owner(entry)
            state = owners[owner] if owner else "missing"
            if state == "running":
                counts[Reason.OWNED_BY_LIVE_WORKFLOW] += 1
                continue
            reason = Reason.HOLD_WITHOUT_WORKFLOW if owner else Reason.ORPHAN
            counts[reason] += 1
            findings.append(_hold_finding(entry, owner or "", reason, state))
        return Findings(tuple(findings), {str(k): v for k, v in counts.items()})

    @activity.defn(name=names.SWEEP_VOID_HOLD)
    async def void_hold(self, request: ResolveInput) -> Finding:
        found = request.finding
        with translated():
            try:
                await self.ledger.void_pending(found.reference, f"sweep:void:{found.reference}")
                note = "voided"
            except AlreadyVoided:
                note = "already voided"
            except (AlreadyPosted, PendingExpired) as exc:
                note = f"already resolved: {type(exc).__name__}"
        log.info("sweep.hold_voided", entry_id=found.reference, note=note)
        return replace(found, resolved=True, detail=_join(found.detail, note))

    @activity.defn(name=names.SWEEP_STORE_REPORT)
    async def store_report(self, report: SweepReport) -> None:
        findings = json.dumps([asdict(f) for f in report.findings], default=str)
        async with await psycopg.AsyncConnection.connect(self.report_dsn) as conn:
            await conn.execute(
                _UPSERT,
                (
                    report.sweep_id,
                    report.started_at,
                    report.window_start,
                    report.window_end,
                    list(report.gateways),
                    report.examined,
                    len(report.unresolved),
                    json.dumps(report.counts),
                    findings,
                    report.dry_run,
                ),
            )
        log.info("sweep.stored", sweep_id=report.sweep_id, findings=len(report.findings))


def _hold_finding(entry: StoredEntry, owner: str, reason: Reason, state: str) -> Finding:
    meta: dict[str, Any] = entry.metadata or {}
    amount = max((abs(leg.pending_minor) for leg in entry.legs), default=0)
    return Finding(
        kind="hold",
        gateway=str(meta.get("gateway", "")),
        reference=entry.entry_id,
        payment_id=owner,
        amount_minor=amount,
        currency=entry.legs[0].currency if entry.legs else "",
        reason=reason,
        action=Action.VOID_HOLD,
        detail=f"workflow {state}",
    )
