"""Pure matching of a gateway's settled transactions against ledger facts.

Charges match by our payment id (or the gateway reference), refunds and failed refunds
by the refund reference; a match with a different currency or amount is an exception, as
are items seen only on one side and items seen twice. A refund the gateway reports failed
(`refund_failure`) matches the ledger's un-booking of that refund; without one it is
missing in the ledger: the ledger still books a refund that gave the money back.
"""

from __future__ import annotations

from paysaga.domain.reconciliation import (
    CHARGE,
    REFUND,
    REFUND_FAILURE,
    ExceptionKind,
    LedgerItem,
    MatchedItem,
    MatchResult,
    ReconException,
    SettledItem,
)

_REFUND_KINDS = (REFUND, REFUND_FAILURE)


def _gateway_key(item: SettledItem) -> tuple[str, str]:
    if item.kind in _REFUND_KINDS:
        return (item.kind, item.refund_reference or item.reference)
    return (CHARGE, item.payment_id or item.reference)


def _ledger_keys(item: LedgerItem) -> list[tuple[str, str]]:
    if item.kind in _REFUND_KINDS:
        return [(item.kind, item.refund_reference or "")]
    keys = [(CHARGE, item.payment_id)]
    if item.reference:
        keys.append((CHARGE, item.reference))
    return keys


def _missing_detail(item: SettledItem) -> str:
    if item.kind == REFUND_FAILURE:
        return "the refund failed at the gateway and the money came back; the ledger still books it"
    return ""


def match_settlements(
    gateway: str, settled: tuple[SettledItem, ...], ledger: tuple[LedgerItem, ...]
) -> MatchResult:
    exceptions: list[ReconException] = []
    by_key: dict[tuple[str, str], LedgerItem] = {}
    for booked in ledger:
        primary = _ledger_keys(booked)[0]
        if primary in by_key:
            exceptions.append(
                ReconException(
                    ExceptionKind.DUPLICATE,
                    gateway,
                    booked.reference,
                    booked.payment_id,
                    booked.currency,
                    expected_minor=booked.amount_minor,
                    detail=f"ledger entries {by_key[primary].entry_id} and {booked.entry_id}",
                )
            )
            continue
        for key in _ledger_keys(booked):
            by_key[key] = booked

    matched: list[MatchedItem] = []
    used: set[str] = set()
    seen: set[tuple[str, str]] = set()
    for item in settled:
        key = _gateway_key(item)
        if key in seen:
            exceptions.append(
                ReconException(
                    ExceptionKind.DUPLICATE,
                    gateway,
                    item.reference,
                    item.payment_id,
                    item.currency,
                    actual_minor=item.amount_minor,
                    detail=f"{item.kind} listed twice by the gateway",
                )
            )
            continue
        seen.add(key)
        entry = by_key.get(key) or by_key.get((key[0], item.reference))
        if entry is None or entry.entry_id in used:
            exceptions.append(
                ReconException(
                    ExceptionKind.MISSING_IN_LEDGER,
                    gateway,
                    item.reference,
                    item.payment_id,
                    item.currency,
                    actual_minor=item.amount_minor,
                    detail=_missing_detail(item),
                )
            )
            continue
        used.add(entry.entry_id)
        if entry.currency != item.currency:
            kind, detail = ExceptionKind.CURRENCY_MISMATCH, f"{entry.currency} != {item.currency}"
        elif entry.amount_minor != item.amount_minor:
            kind, detail = ExceptionKind.AMOUNT_MISMATCH, ""
        else:
            matched.append(
                MatchedItem(item=item, entry_id=entry.entry_id, payment_id=entry.payment_id)
            )
            continue
        exceptions.append(
            ReconException(
                kind,
                gateway,
                item.reference,
                entry.payment_id,
                item.currency,
                expected_minor=entry.amount_minor,
                actual_minor=item.amount_minor,
                detail=detail,
            )
        )
    netted = _netted_out(ledger, used)
    for booked in ledger:
        if booked.entry_id in netted:
            continue
        if booked.entry_id not in used and not any(
            e.kind == ExceptionKind.DUPLICATE and e.detail.endswith(booked.entry_id)
            for e in exceptions
        ):
            exceptions.append(
                ReconException(
                    ExceptionKind.MISSING_AT_GATEWAY,
                    gateway,
                    booked.reference,
                    booked.payment_id,
                    booked.currency,
                    expected_minor=booked.amount_minor,
                )
            )
    return MatchResult(matched=tuple(matched), exceptions=tuple(exceptions))


def _netted_out(ledger: tuple[LedgerItem, ...], used: set[str]) -> set[str]:
    """Unsettled ledger items that cancel out, so the gateway rightly lists nothing.

    A refund and the un-booking of its failure (same refund reference and amount) cancel:
    a refund that failed before it settled never reaches a listing. Then per payment and
    currency: a capture refunded in full before settlement is voided at the gateway
    (Braintree turns such a refund into a void), so the gateway lists nothing either.
    """
    open_items = [b for b in ledger if b.entry_id not in used]
    netted = _failed_refund_pairs(open_items)
    net: dict[tuple[str, str], int] = {}
    members: dict[tuple[str, str], list[LedgerItem]] = {}
    for booked in open_items:
        if booked.entry_id in netted:
            continue
        key = (booked.payment_id, booked.currency)
        sign = -1 if booked.kind == REFUND else 1
        net[key] = net.get(key, 0) + sign * booked.amount_minor
        members.setdefault(key, []).append(booked)
    for key, items in members.items():
        kinds = {item.kind for item in items}
        if net[key] == 0 and REFUND in kinds and len(kinds) > 1:
            netted.update(item.entry_id for item in items)
    return netted


def _failed_refund_pairs(items: list[LedgerItem]) -> set[str]:
    refunds = {
        (i.refund_reference, i.amount_minor, i.currency): i for i in items if i.kind == REFUND
    }
    paired: set[str] = set()
    for failure in items:
        refund = refunds.get((failure.refund_reference, failure.amount_minor, failure.currency))
        if failure.kind == REFUND_FAILURE and refund is not None and failure.refund_reference:
            paired.update((failure.entry_id, refund.entry_id))
    return paired
