"""The sweep's decisions, pure: given gateway objects and what the ledger booked, what to do.

No I/O here; activities/sweep.py gathers the facts (listing, workflow state, ledger) and
the workflow carries the actions out.
"""

from __future__ import annotations

from collections.abc import Sequence

from paysaga.domain.sweep import Action, Finding, GatewayObject, Reason

_HELD = ("authorized", "requires_action")
_CAPTURED = ("captured", "settled")


def finding(obj: GatewayObject, reason: Reason, action: Action, detail: str = "") -> Finding:
    return Finding(
        kind="gateway",
        gateway=obj.gateway,
        reference=obj.reference,
        payment_id=obj.payment_id,
        amount_minor=obj.money_minor,
        currency=obj.currency,
        reason=reason,
        action=action,
        detail=detail,
    )


def resolving_action(obj: GatewayObject) -> Action:
    """How money held or taken through `obj` goes back: void a hold, refund a capture."""
    if obj.state in _HELD:
        return Action.VOID
    if obj.state in _CAPTURED:
        return Action.REFUND
    return Action.MANUAL  # e.g. an ACH debit still processing: cannot be canceled


def orphan(obj: GatewayObject) -> Finding:
    action = resolving_action(obj)
    reason = Reason.NOT_CANCELABLE if action is Action.MANUAL else Reason.ORPHAN
    return finding(obj, reason, action, "no payment of ours behind it")


def judge_closed(objects: Sequence[GatewayObject], booked_minor: int) -> list[Finding]:
    """The objects with money of one closed payment workflow at one gateway, against the net
    its ledger booked there (captures minus refunds): a closed workflow moves no more money,
    so whatever its ledger does not explain goes back to the customer."""
    findings: list[Finding] = []
    captured: list[GatewayObject] = []
    for obj in objects:
        if obj.state in _HELD:
            findings.append(
                finding(obj, Reason.AUTHORIZED_WITHOUT_WORKFLOW, Action.VOID, "closed workflow")
            )
        elif obj.state in _CAPTURED:
            captured.append(obj)
        else:
            findings.append(finding(obj, Reason.NOT_CANCELABLE, Action.MANUAL, obj.state))
    total = sum(o.money_minor for o in captured)
    if total == booked_minor:
        findings.extend(finding(o, Reason.BOOKED, Action.NONE) for o in captured)
        return findings
    if booked_minor == 0:
        findings.extend(
            finding(o, Reason.CAPTURED_NOT_BOOKED, Action.REFUND, "ledger booked nothing")
            for o in captured
        )
        return findings
    # The ledger explains one charge exactly: the earliest such is the payment's, the rest
    # are extra charges (a lost unknown outcome, a failover that charged twice).
    ordered = sorted(captured, key=lambda o: (o.created_at, o.reference))
    kept = next((o for o in ordered if o.money_minor == booked_minor), None)
    if kept is None:
        detail = f"gateway net {total}, ledger net {booked_minor}"
        findings.extend(finding(o, Reason.LEDGER_MISMATCH, Action.MANUAL, detail) for o in captured)
        return findings
    for obj in ordered:
        if obj is kept:
            findings.append(finding(obj, Reason.BOOKED, Action.NONE))
        else:
            detail = f"ledger books {kept.reference} only"
            findings.append(finding(obj, Reason.DUPLICATE_CHARGE, Action.REFUND, detail))
    return findings
