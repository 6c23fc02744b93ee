"""What Stripe has settled: balance transactions whose funds became available.

A balance transaction exists as soon as money moves (at capture, at refund): it is
`pending` until its `available_on` date and `available` from then on
(https://docs.stripe.com/api/balance_transactions/object: `status`, `available_on`).
So a balance transaction's existence means captured, not settled; settled here means
its funds reached our available balance, from which the payout schedule pays out. The
list endpoint filters by `created` only (https://docs.stripe.com/api/balance_transactions/list),
so the listing reaches back LOOKBACK before the period and keeps what became available
within it. Types follow https://docs.stripe.com/reports/balance-transaction-types.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from paysaga.domain.reconciliation import CHARGE, REFUND, REFUND_FAILURE
from paysaga.gateways.stripe_errors import NAME
from paysaga.gateways.types import SettledTransaction

# How long funds may stay pending after capture: Stripe's payout delay is days (2 for US
# card payments by default; longer for new accounts and some countries), well under this.
LOOKBACK: Final = timedelta(days=31)

# Balance transaction type -> settled item kind. `payment`/`payment_refund` are the
# non-card (ACH) equivalents of `charge`/`refund`; `refund_failure` is a refund that
# failed after it was taken from the balance: the money came back.
KINDS: Final = {
    "charge": CHARGE,
    "payment": CHARGE,
    "refund": REFUND,
    "payment_refund": REFUND,
    "refund_failure": REFUND_FAILURE,
}


def _get(obj: Any, key: str) -> Any:
    """A field of a StripeObject or dict, or None."""
    if obj is None or isinstance(obj, str):
        return None
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    return data.get(key) if isinstance(data, dict) else None


def is_available(balance_transaction: Any) -> bool:
    """An expanded balance transaction whose funds are available; an id alone says nothing."""
    return bool(_get(balance_transaction, "status") == "available")


def listing_window(start: datetime, end: datetime) -> tuple[int, int]:
    """The `created` range (gte, lt) holding every transaction that may become available
    in [start, end)."""
    return int((start - LOOKBACK).timestamp()), int(end.timestamp())


def settled_in(txn: Any, start: datetime, end: datetime) -> SettledTransaction | None:
    """The transaction as a settled item if its funds became available in [start, end)."""
    kind = KINDS.get(str(txn.type))
    if kind is None or str(txn.status) != "available":
        return None
    available_at = datetime.fromtimestamp(int(txn.available_on), tz=UTC)
    if not start <= available_at < end:
        return None
    source = txn.source
    if isinstance(source, str):  # not expanded: reference what we have
        payment_ref, payment_id, refund_ref = source, None, None
    elif kind == CHARGE:
        payment_ref = str(_get(source, "payment_intent") or source.id)
        payment_id, refund_ref = _get(_get(source, "metadata"), "payment_id"), None
    else:  # the source is the refund (for refund_failure too)
        charge = _get(source, "charge")
        payment_ref = str(_get(source, "payment_intent") or _get(charge, "id") or charge)
        payment_id = _get(_get(charge, "metadata"), "payment_id")
        refund_ref = source.id
    return SettledTransaction(
        gateway=NAME,
        reference=payment_ref,
        payment_id=payment_id,
        kind=kind,
        amount_minor=abs(int(txn.amount)),
        fee_minor=int(txn.fee),
        currency=str(txn.currency).upper(),
        settled_at=available_at,
        refund_reference=refund_ref,
        extra={"balance_transaction": str(txn.id), "created": str(int(txn.created))},
    )
