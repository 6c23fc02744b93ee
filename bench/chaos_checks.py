"""The invariants `bench.chaos` checks after the storm, each from an outside view.

Money facts come from where the money is, not from our workflows: the sandboxes' own
state (what each gateway holds per payment) and the ledger's tables on every shard
(what we booked per payment). Statuses come from each payment's workflow. Every check
appends a human-readable violation; an empty list means the run was clean.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from bench.load import PlannedPayment
from paysaga.client.client import PaysagaClient
from paysaga.config.settings import Settings
from paysaga.domain.reconciliation import ReconciliationReport
from paysaga.domain.status import PaymentStatus

CHARGED = frozenset({PaymentStatus.CAPTURED, PaymentStatus.SETTLED})
# Where the benchmark leaves a payment: charged (refunded for the refund share) or failed.
TERMINAL_PLAIN = CHARGED | {PaymentStatus.FAILED}
TERMINAL_REFUNDED = frozenset({PaymentStatus.REFUNDED, PaymentStatus.FAILED})


@dataclass
class Holding:
    """One payment as a gateway (or the ledger) sees it."""

    captured_charges: int = 0
    captured_minor: int = 0
    refunded_minor: int = 0
    open_authorizations: int = 0

    def add(self, row: dict[str, int]) -> None:
        self.captured_charges += int(row.get("captured_charges", 0))
        self.captured_minor += int(row.get("captured_minor", 0))
        self.refunded_minor += int(row.get("refunded_minor", 0))
        self.open_authorizations += int(row.get("open_authorizations", 0))


@dataclass
class Books:
    """What the ledger booked for one payment, summed over every shard."""

    captures: int = 0
    captured_minor: int = 0
    refunded_minor: int = 0
    open_holds: int = 0


@dataclass
class Findings:
    violations: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def fail(self, message: str) -> None:
        self.violations.append(message)


# ---------------------------------------------------------------- gathering facts


async def sandbox_stats(settings: Settings) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=30) as http:
        out: dict[str, dict[str, Any]] = {}
        for name, base in (
            ("stripe", settings.stripe_base()),
            ("braintree", settings.braintree_base()),
        ):
            response = await http.get(f"{base}/__sandbox/stats")
            response.raise_for_status()
            out[name] = response.json()
        return out


def gateway_holdings(stats: dict[str, dict[str, Any]]) -> dict[str, Holding]:
    """Per payment id, summed over gateways (a failed-over payment may touch both)."""
    holdings: dict[str, Holding] = {}
    for gateway_stats in stats.values():
        for payment_id, row in gateway_stats.get("by_payment_id", {}).items():
            holdings.setdefault(payment_id, Holding()).add(row)
    return holdings


# Per payment: entries that capture (a posted hold or a direct charge), refunds (net of
# the un-bookings of refunds that failed at the gateway), and
# holds neither posted nor voided. An entry's amount is the sum of its debit legs.
LEDGER_BOOKS_SQL = """
SELECT e.metadata->>'payment_id' AS payment_id,
       count(DISTINCT e.id) FILTER (WHERE e.kind IN ('post_pending', 'standard')
                                    AND e.metadata->>'kind' = 'charge') AS captures,
       coalesce(sum(l.posted_amount) FILTER (WHERE e.kind IN ('post_pending', 'standard')
                                             AND e.metadata->>'kind' = 'charge'), 0) AS captured,
       coalesce(sum(l.posted_amount) FILTER (WHERE e.kind = 'reversal'
                                             AND e.metadata->>'kind' = 'refund'), 0)
       - coalesce(sum(l.posted_amount) FILTER (WHERE e.metadata->>'kind' = 'refund_failure'),
                  0) AS refunded,
       count(DISTINCT e.id) FILTER (WHERE e.kind = 'pending' AND NOT EXISTS (
           SELECT 1 FROM ledger_entries r WHERE r.pending_id = e.id)) AS open_holds
FROM ledger_entries e
JOIN ledger_legs l ON l.entry_id = e.id AND l.direction = 'debit'
WHERE e.metadata ? 'payment_id'
GROUP BY 1
"""


async def ledger_books(shard_urls: list[str]) -> dict[str, Books]:
    books: dict[str, Books] = {}
    for url in shard_urls:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            cursor = await conn.execute(LEDGER_BOOKS_SQL)
            for payment_id, captures, captured, refunded, open_holds in await cursor.fetchall():
                entry = books.setdefault(payment_id, Books())
                # sum(bigint) is numeric in PostgreSQL: Decimal here, made int again.
                entry.captures += int(captures)
                entry.captured_minor += int(captured)
                entry.refunded_minor += int(refunded)
                entry.open_holds += int(open_holds)
    return books


STATUS_READS = 5  # tries per payment, 1 s apart and doubling (about 30 s in all)


async def final_statuses(
    client: PaysagaClient, payments: list[PlannedPayment], width: int = 32
) -> tuple[dict[str, str], dict[str, str]]:
    """Each payment's status from its workflow (visibility may lag a little), and why
    the failed ones failed."""
    gate = asyncio.Semaphore(width)
    out: dict[str, str] = {}
    reasons: dict[str, str] = {}

    async def one(plan: PlannedPayment) -> None:
        async with gate:
            for attempt in range(STATUS_READS):
                try:
                    view = await client.get_payment(plan.payment_id)
                except Exception as exc:  # a query can time out on a busy worker: ask again
                    # Still unanswerable after STATUS_READS tries: that itself is a finding.
                    out[plan.payment_id] = f"unreadable ({type(exc).__name__})"
                    await asyncio.sleep(2**attempt)
                    continue
                out[plan.payment_id] = str(view.status)
                if view.status == PaymentStatus.FAILED:
                    reasons[plan.payment_id] = view.last_error or ""
                return

    await asyncio.gather(*(one(p) for p in payments if p.payment_id))
    return out, reasons


async def ledger_verify() -> tuple[bool, str]:
    """`paysaga ledger verify` in a subprocess, with the bench's exported settings."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "paysaga.cli",
        "ledger",
        "verify",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode == 0, output.decode(errors="replace").strip()


# ---------------------------------------------------------------- judging


def check_payments(
    findings: Findings,
    payments: list[PlannedPayment],
    statuses: dict[str, str],
    holdings: dict[str, Holding],
    books: dict[str, Books],
) -> None:
    """Terminal states, one charge per charged payment, gateway = ledger per payment."""
    counts: Counter[str] = Counter()
    tally = findings.figures.setdefault("counts", dict.fromkeys(COUNTS, 0))
    for plan in payments:
        if not plan.payment_id:
            findings.fail(f"{plan.idempotency_key}: never started")
            counts["not started"] += 1
            continue
        pid, status = plan.payment_id, statuses.get(plan.payment_id, "unknown")
        counts[status] += 1
        refunded = plan.refund and not plan.refund_failed  # a failed refund leaves it charged
        terminal = TERMINAL_REFUNDED if refunded else TERMINAL_PLAIN
        if status not in terminal:
            findings.fail(f"{pid}: not terminal (status {status})")
        gateway, booked = holdings.get(pid, Holding()), books.get(pid, Books())
        _tally(tally, status in terminal, gateway, booked)
        if gateway.captured_charges > 1:
            findings.fail(f"{pid}: double charge ({gateway.captured_charges} captured charges)")
        if booked.captures > 1:
            findings.fail(f"{pid}: capture booked {booked.captures} times")
        # A failed payment may have been charged only if the charge was refunded in full
        # (the compensation for a capture that could not be voided) on both sides.
        if status == PaymentStatus.FAILED and (
            gateway.captured_minor != gateway.refunded_minor
            or booked.captured_minor != booked.refunded_minor
        ):
            findings.fail(
                f"{pid}: failed but charged (gateway {gateway.captured_minor}, "
                f"ledger {booked.captured_minor})"
            )
        if status in CHARGED | {PaymentStatus.REFUNDED} and (
            gateway.captured_charges != 1 or gateway.captured_minor != plan.amount_minor
        ):
            findings.fail(
                f"{pid}: {status} but the gateway holds {gateway.captured_charges} charge(s) "
                f"for {gateway.captured_minor} (expected 1 for {plan.amount_minor})"
            )
        if status == PaymentStatus.REFUNDED and gateway.refunded_minor != plan.amount_minor:
            findings.fail(f"{pid}: refunded but the gateway refunded {gateway.refunded_minor}")
        if (gateway.captured_minor, gateway.refunded_minor) != (
            booked.captured_minor,
            booked.refunded_minor,
        ):
            findings.fail(
                f"{pid}: gateway captured/refunded {gateway.captured_minor}/"
                f"{gateway.refunded_minor}, ledger {booked.captured_minor}/{booked.refunded_minor}"
            )
        if gateway.open_authorizations:
            findings.fail(f"{pid}: {gateway.open_authorizations} authorization(s) left open")
        if booked.open_holds:
            findings.fail(f"{pid}: {booked.open_holds} ledger hold(s) neither posted nor voided")
    findings.figures["statuses"] = dict(sorted(counts.items()))


# The money-safety counts the JSON reports (issue 13's acceptance), each 0 on a clean run.
COUNTS = (
    "lost_payments",  # not terminal, or never started
    "double_charges",  # more than one captured charge, or capture booked twice
    "orphaned_charges",  # money kept at a gateway that the ledger did not book
    "refund_mismatches",  # gateway refunds != ledger refunds
    "open_holds",  # ledger holds neither posted nor voided
    "open_authorizations",  # authorizations left open at a gateway
)


def _tally(tally: dict[str, int], terminal: bool, gateway: Holding, booked: Books) -> None:
    kept_at_gateway = gateway.captured_minor - gateway.refunded_minor
    kept_in_ledger = booked.captured_minor - booked.refunded_minor
    tally["lost_payments"] += not terminal
    tally["double_charges"] += gateway.captured_charges > 1 or booked.captures > 1
    tally["orphaned_charges"] += kept_at_gateway > max(kept_in_ledger, 0)
    tally["refund_mismatches"] += gateway.refunded_minor != booked.refunded_minor
    tally["open_holds"] += booked.open_holds
    tally["open_authorizations"] += gateway.open_authorizations


def check_totals(
    findings: Findings,
    payments: list[PlannedPayment],
    holdings: dict[str, Holding],
    books: dict[str, Books],
) -> None:
    """Gateway charges = captured payments in the ledger; nothing charged that we never made."""
    ours = {p.payment_id for p in payments if p.payment_id}
    charges = sum(h.captured_charges for h in holdings.values())
    captured_payments = sum(1 for b in books.values() if b.captures)
    # Money kept at a gateway under no payment of this run (nor under any payment id):
    # a charge refunded or voided in full is resolved, anything else is orphaned.
    stray = sorted(
        pid
        for pid, h in holdings.items()
        if h.captured_minor > h.refunded_minor and pid not in ours
    )
    findings.figures.update(
        gateway_charges=charges,
        ledger_captured_payments=captured_payments,
        gateway_captured_minor=sum(h.captured_minor for h in holdings.values()),
        ledger_captured_minor=sum(b.captured_minor for b in books.values()),
        gateway_refunded_minor=sum(h.refunded_minor for h in holdings.values()),
        ledger_refunded_minor=sum(b.refunded_minor for b in books.values()),
        refunded_payments=sum(1 for b in books.values() if b.refunded_minor),
    )
    tally = findings.figures.setdefault("counts", dict.fromkeys(COUNTS, 0))
    tally["lost_payments"] += sum(1 for p in payments if not p.payment_id)
    tally["orphaned_charges"] += sum(holdings[pid].captured_charges for pid in stray)
    if charges != captured_payments:
        findings.fail(
            f"the sandboxes hold {charges} charges, "
            f"the ledger {captured_payments} captured payments"
        )
    for pid in stray:
        findings.fail(f"{pid}: charged at a gateway but not a payment of this run")


def check_reconciliation(findings: Findings, reports: list[ReconciliationReport]) -> None:
    exceptions = [exc for report in reports for exc in report.exceptions]
    findings.figures["reconciliation"] = {
        "reports": [r.report_id for r in reports],
        "matched": sum(r.matched_count for r in reports),
        "exceptions": len(exceptions),
        "exception_kinds": dict(Counter(str(exc.kind) for exc in exceptions)),
    }
    for exc in exceptions[:50]:
        findings.fail(f"reconciliation exception: {exc}")
    if len(exceptions) > 50:
        findings.fail(f"... and {len(exceptions) - 50} more reconciliation exceptions")


def check_ledger_verify(findings: Findings, ok: bool, output: str) -> None:
    findings.figures["ledger_verify"] = "ok" if ok else "FAILED"
    if not ok:
        findings.fail(f"paysaga ledger verify failed:\n{output}")
