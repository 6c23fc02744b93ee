"""Validate requests in Python (before any I/O) and encode them for the SQL functions.

The SQL functions check the same rules again; validating here means bad input is
refused with a typed error without touching the database.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from datetime import datetime
from typing import Any

from ledger.errors import InvalidEntry, LedgerInvalidAmount, UnbalancedEntry
from ledger.types import AccountSpec, EntryRequest, Leg
from paysaga.domain.errors import InvalidAmount, UnknownCurrency
from paysaga.domain.money import validate_amount, validate_currency

ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_.\-]+(:[A-Za-z0-9_.\-]+)*$")
ACCOUNT_ID_MAX = 200
KEY_MAX = 255
CLEARING_PREFIX = "clearing:"


def validate_account_id(account_id: object, *, allow_reserved: bool = False) -> str:
    if (
        not isinstance(account_id, str)
        or not 1 <= len(account_id) <= ACCOUNT_ID_MAX
        or not ACCOUNT_ID.match(account_id)
    ):
        raise InvalidEntry(
            "account ids are 1-200 characters of letters, digits, _ . - separated by ':'",
            field="account_id",
        )
    if account_id.startswith(CLEARING_PREFIX) and not allow_reserved:
        raise InvalidEntry("the clearing: prefix is reserved for the ledger", field="account_id")
    return account_id


def validate_key(key: object) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= KEY_MAX:
        raise InvalidEntry("idempotency key must have 1 to 255 characters", field="idempotency_key")
    return key


def amount(value: object, field: str = "amount_minor") -> int:
    try:
        return validate_amount(value, field)
    except InvalidAmount as exc:
        raise LedgerInvalidAmount(exc.message, field=field) from None


def currency(value: object, field: str = "currency") -> str:
    try:
        return validate_currency(value, field)
    except UnknownCurrency as exc:
        raise InvalidEntry(exc.message, field=field) from None


def _timestamp(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidEntry(f"{field} must be a timezone-aware datetime", field=field)
    return value.isoformat()


def _metadata(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidEntry("metadata must be a dict", field="metadata")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidEntry("metadata must be JSON-serialisable", field="metadata") from None
    return value


def validate_spec(spec: AccountSpec) -> AccountSpec:
    validate_account_id(spec.account_id)
    currency(spec.currency)
    if spec.normal_side not in ("debit", "credit"):
        raise InvalidEntry("normal_side must be 'debit' or 'credit'", field="normal_side")
    if int(spec.flags) not in (0, 1, 2):
        raise InvalidEntry("an account takes at most one balance flag", field="flags")
    if spec.hot and not (isinstance(spec.stripes, int) and 1 <= spec.stripes <= 256):
        raise InvalidEntry("stripes must be 1 to 256", field="stripes")
    _metadata(spec.metadata)
    return spec


def definition_hash(spec: AccountSpec) -> str:
    body = {
        "currency": spec.currency,
        "normal_side": spec.normal_side,
        "flags": int(spec.flags),
        "hot": spec.hot,
        "stripes": spec.stripes if spec.hot else 0,
        "metadata": spec.metadata,
    }
    return _digest(body)


def _digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(body: dict[str, Any]) -> str:
    # What _digest hashes for a body whose metadata is plain JSON (no NaN, no other types).
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)


def validate_legs(legs: object) -> tuple[Leg, ...]:
    if not isinstance(legs, (tuple, list)) or len(legs) < 2:
        raise UnbalancedEntry("an entry needs at least two legs", field="legs")
    totals: dict[str, int] = defaultdict(int)
    for index, leg in enumerate(legs):
        if not isinstance(leg, Leg):
            raise InvalidEntry(f"leg {index} is not a Leg", field="legs")
        validate_account_id(leg.account_id, allow_reserved=True)
        if leg.direction not in ("debit", "credit"):
            raise InvalidEntry(f"leg {index}: direction must be debit or credit", field="legs")
        amount(leg.amount_minor, f"legs[{index}].amount_minor")
        currency(leg.currency, f"legs[{index}].currency")
        totals[leg.currency] += leg.amount_minor if leg.direction == "debit" else -leg.amount_minor
    unbalanced = sorted(c for c, total in totals.items() if total != 0)
    if unbalanced:
        raise UnbalancedEntry(f"debits and credits differ in {', '.join(unbalanced)}", field="legs")
    return tuple(legs)


def entry_payload(
    request: EntryRequest,
    reverses_ref: int | None,
    checked_legs: tuple[Leg, ...] | None = None,
) -> dict[str, Any]:
    """Validate an EntryRequest and encode it for ledger_apply (checked_legs: what
    validate_legs already returned for request.legs, so they are not checked twice)."""
    body = _entry_body(request, reverses_ref, checked_legs)
    return {"key": request.idempotency_key, "hash": _digest(body), **body}


def entry_json(
    request: EntryRequest,
    reverses_ref: int | None,
    checked_legs: tuple[Leg, ...] | None = None,
) -> str:
    """entry_payload as JSON text, serialised once: the canonical body text is both hashed
    and sent (the posting hot path; equal to json.dumps(entry_payload(...)) as jsonb)."""
    body = _entry_body(request, reverses_ref, checked_legs, check_metadata=False)
    try:
        canonical = _canonical(body)
    except (TypeError, ValueError):
        raise InvalidEntry("metadata must be JSON-serialisable", field="metadata") from None
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    key = json.dumps(request.idempotency_key)
    return f'{{"key":{key},"hash":"{digest}",{canonical[1:]}'


def _entry_body(
    request: EntryRequest,
    reverses_ref: int | None,
    checked_legs: tuple[Leg, ...] | None,
    *,
    check_metadata: bool = True,
) -> dict[str, Any]:
    validate_key(request.idempotency_key)
    legs = checked_legs if checked_legs is not None else validate_legs(request.legs)
    if request.pending and request.reverses:
        raise InvalidEntry("a reversal cannot be pending", field="reverses")
    if request.expires_at is not None and not request.pending:
        raise InvalidEntry("only pending entries expire", field="expires_at")
    if not isinstance(request.description, str) or len(request.description) > 1000:
        raise InvalidEntry(
            "description must be a string of at most 1000 chars", field="description"
        )
    kind = "reversal" if request.reverses else ("pending" if request.pending else "standard")
    body: dict[str, Any] = {
        "kind": kind,
        "legs": [
            {"a": g.account_id, "d": g.direction, "n": g.amount_minor, "c": g.currency}
            for g in legs
        ],
        "effective_at": _timestamp(request.effective_at, "effective_at"),
        "expires_at": _timestamp(request.expires_at, "expires_at"),
        "description": request.description,
        "metadata": _metadata(request.metadata) if check_metadata else request.metadata,
    }
    if not isinstance(body["metadata"], dict):
        raise InvalidEntry("metadata must be a dict", field="metadata")
    if reverses_ref is not None:
        body["ref"] = reverses_ref
    return body


def reference_payload(
    kind: str, key: str, ref: int, amount_minor: int | None, metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    """post_pending / void_pending / reversal of a stored entry."""
    validate_key(key)
    if amount_minor is not None:
        amount(amount_minor)
    body: dict[str, Any] = {"kind": kind, "ref": ref, "amount": amount_minor}
    if metadata:
        body["metadata"] = _metadata(metadata)
    return {"key": key, "hash": _digest(body), **body}
