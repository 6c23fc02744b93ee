"""ReconciliationActivities: the ledger side of reconciliation, and the report store.

Matching reads the ledger's charge and refund entries for the gateway (by payment id and
by period) and compares them with what the gateway settled
(paysaga.domain.settlement_matching). Matched
items get settlement entries (cash and fees against the gateway receivable, balanced
whatever the fee: paysaga.domain.settlement_fees.settlement_legs), keyed by the gateway
reference so a rerun posts nothing twice. Reports live in PostgreSQL (shard 0,
table reconciliation_reports, Alembic branch "reconciliation").
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import psycopg
import structlog
from temporalio import activity

from activities import chart
from activities.chart import Chart
from activities.errors import translated
from ledger.service import Ledger
from ledger.shards import parse_entry_ref
from ledger.types import EntryRequest, Leg, StoredEntry
from paysaga.domain import activity_names as names
from paysaga.domain.reconciliation import (
    CHARGE,
    REFUND,
    REFUND_FAILURE,
    LedgerItem,
    MatchInput,
    MatchResult,
    PostSettlementInput,
    PostSettlementResult,
    ReconciliationReport,
)
from paysaga.domain.settlement_fees import settlement_legs
from paysaga.domain.settlement_matching import match_settlements

log = structlog.get_logger()

_UPSERT = """
INSERT INTO reconciliation_reports (report_id, period_start, period_end, gateways, status,
    matched_count, exception_count, settlements, fees_minor, exceptions)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb)
ON CONFLICT (report_id) DO UPDATE SET
    status = EXCLUDED.status, matched_count = EXCLUDED.matched_count,
    exception_count = EXCLUDED.exception_count, settlements = EXCLUDED.settlements,
    fees_minor = EXCLUDED.fees_minor, exceptions = EXCLUDED.exceptions, updated_at = now()
"""


def ledger_item(entry: StoredEntry) -> LedgerItem | None:
    """A capture (posted charge), refund, or failed refund's un-booking as reconciliation
    sees it. The un-booking is any posted entry with metadata kind "refund_failure",
    payment_id and the refund's refund_reference (the payment workflow writes it)."""
    meta: dict[str, Any] = entry.metadata or {}
    kind = meta.get("kind")
    if entry.kind == "post_pending" or (entry.kind == "standard" and kind == CHARGE):
        item_kind = CHARGE
    elif entry.kind == "reversal" and kind == REFUND:
        item_kind = REFUND
    elif entry.kind in ("standard", "reversal") and kind == REFUND_FAILURE:
        item_kind = REFUND_FAILURE
    else:
        return None
    if kind not in (CHARGE, REFUND, REFUND_FAILURE) or "payment_id" not in meta:
        return None
    amount = max(leg.posted_minor for leg in entry.legs)
    return LedgerItem(
        gateway=str(meta.get("gateway", "")),
        reference=str(meta.get("gateway_reference", "")),
        payment_id=str(meta["payment_id"]),
        kind=item_kind,
        amount_minor=amount,
        currency=entry.legs[0].currency,
        entry_id=entry.entry_id,
        refund_reference=meta.get("refund_reference"),
    )


class ReconciliationActivities:
    def __init__(self, ledger: Ledger, report_dsn: str) -> None:
        self.ledger = ledger
        self.chart = Chart(ledger)
        self.report_dsn = report_dsn

    def activities(self) -> list[Callable[..., object]]:
        return [self.match, self.post_settlements, self.store_report]

    async def _ledger_items(self, request: MatchInput) -> tuple[LedgerItem, ...]:
        entries: dict[str, StoredEntry] = {}
        # What the ledger booked in the period for this gateway ...
        prefix = f"gateway_receivable:{request.gateway}:"
        for entry in await self.ledger.list_entries(
            request.period_start, request.period_end, account_prefix=prefix
        ):
            entries[entry.entry_id] = entry
        # ... and whatever it booked, whenever, for the payments the gateway settled.
        for payment_id in sorted({i.payment_id for i in request.items if i.payment_id}):
            activity.heartbeat(payment_id)
            for entry in await self.ledger.find_entries("payment_id", payment_id):
                entries[entry.entry_id] = entry
        items = (ledger_item(e) for e in entries.values())
        return tuple(i for i in items if i is not None and i.gateway == request.gateway)

    @activity.defn(name=names.RECON_MATCH)
    async def match(self, request: MatchInput) -> MatchResult:
        with translated():
            ledger = await self._ledger_items(request)
        result = match_settlements(request.gateway, request.items, ledger)
        log.info(
            "reconciliation.matched",
            gateway=request.gateway,
            matched=len(result.matched),
            exceptions=len(result.exceptions),
        )
        return result

    @activity.defn(name=names.RECON_POST_SETTLEMENTS)
    async def post_settlements(self, request: PostSettlementInput) -> PostSettlementResult:
        fees: dict[str, int] = defaultdict(int)
        posted = 0
        with translated():
            for index, matched in enumerate(request.matched):
                if index % 50 == 0:
                    activity.heartbeat(index)
                item = matched.item
                shard, _ = parse_entry_ref(matched.entry_id, self.ledger.shards.count)
                cash, fee_account = await self.chart.settlement_accounts(
                    item.gateway, item.currency, shard
                )
                receivable = chart.gateway_receivable(item.gateway, item.currency, shard)
                accounts = {"receivable": receivable, "cash": cash, "fees": fee_account}
                legs = tuple(
                    Leg(accounts[leg.role], leg.direction, leg.amount_minor, item.currency)
                    for leg in settlement_legs(item.kind, item.amount_minor, item.fee_minor)
                )
                key_ref = item.refund_reference or item.reference
                result = await self.ledger.post_entry(
                    EntryRequest(
                        idempotency_key=f"settle:{item.gateway}:{item.kind}:{key_ref}",
                        legs=legs,
                        description=f"{item.gateway} settlement",
                        metadata={
                            "payment_id": matched.payment_id,
                            "gateway": item.gateway,
                            "gateway_reference": item.reference,
                            "kind": "settlement",
                        },
                    )
                )
                if not result.replayed:
                    posted += 1
                    fees[item.currency] += item.fee_minor
        return PostSettlementResult(posted=posted, fees_minor=dict(fees))

    @activity.defn(name=names.RECON_STORE_REPORT)
    async def store_report(self, report: ReconciliationReport) -> None:
        exceptions = json.dumps([asdict(e) for e in report.exceptions], default=str)
        async with await psycopg.AsyncConnection.connect(self.report_dsn) as conn:
            await conn.execute(
                _UPSERT,
                (
                    report.report_id,
                    report.period_start,
                    report.period_end,
                    list(report.gateways),
                    str(report.status),
                    report.matched_count,
                    len(report.exceptions),
                    report.settlements_posted,
                    json.dumps(report.fees_minor),
                    exceptions,
                ),
            )
        log.info(
            "reconciliation.stored",
            report_id=report.report_id,
            matched=report.matched_count,
            exceptions=len(report.exceptions),
        )
