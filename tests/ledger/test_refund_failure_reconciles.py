"""A refund that failed at the gateway after it was booked reconciles with 0 exceptions
(issue 13, defect 6; chaos seed 577881577): the payment's un-booking, posted by the
ledger activities as the workflow asks for it (kind refund_failure, the refund's id),
matches Stripe's `refund_failure` balance transaction, and nets out against its refund
when nothing settled (a Braintree credit declined at settlement is never listed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.testing import ActivityEnvironment

from activities.ledger import LedgerActivities
from activities.reconciliation import ReconciliationActivities
from ledger.service import Ledger
from paysaga.domain.ledger import LedgerCaptureInput, LedgerHoldInput, LedgerReversalInput
from paysaga.domain.reconciliation import REFUND_FAILURE, MatchInput, MatchResult, SettledItem
from tests.ledger.conftest import unique

AT = datetime.now(UTC)
# Far from today: the match reads only what it finds by the payment ids settled.
PERIOD = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 2, tzinfo=UTC))


async def _book_refunded_then_failed(ledger: Ledger, gateway: str) -> tuple[str, str, str]:
    """Capture 1000, refund it (re_...), un-book the refund: what the workflow posts."""
    run = ActivityEnvironment().run
    books = LedgerActivities(ledger)
    payment_id, reference, refund = unique("p"), unique("pi"), unique("re")
    hold = await run(
        books.hold,
        LedgerHoldInput(payment_id, f"{payment_id}:hold", "m_1", "c_1", gateway, 1000, "USD"),
    )
    await run(
        books.capture,
        LedgerCaptureInput(
            payment_id,
            f"{payment_id}:capture",
            hold.entry_id,
            "m_1",
            gateway,
            reference,
            1000,
            "USD",
        ),
    )
    await run(
        books.reverse,
        LedgerReversalInput(
            payment_id, f"{payment_id}:refund-r1", "m_1", gateway, reference, 1000, "USD",
            "refund", refund_reference=refund,
        ),
    )  # fmt: skip
    await run(
        books.capture,
        LedgerCaptureInput(
            payment_id, f"{payment_id}:refund-failed-r1", None, "m_1", gateway, reference, 1000,
            "USD", kind=REFUND_FAILURE, refund_reference=refund,
        ),
    )  # fmt: skip
    return payment_id, reference, refund


async def _match(ledger: Ledger, gateway: str, *items: SettledItem) -> MatchResult:
    recon = ReconciliationActivities(ledger, report_dsn="")
    request = MatchInput("r1", gateway, *PERIOD, items)
    result: MatchResult = await ActivityEnvironment().run(recon.match, request)
    return result


def _settled(
    gateway: str, kind: str, reference: str, payment_id: str, refund: str | None
) -> SettledItem:
    fee = 59 if kind == "charge" else 0
    return SettledItem(gateway, reference, payment_id, kind, 1000, fee, "USD", AT, refund)


async def test_stripe_refund_failure_matches_the_unbooking(ledger: Ledger) -> None:
    payment_id, reference, refund = await _book_refunded_then_failed(ledger, "stripe")
    listed = (  # Stripe books the refund and, when it fails, the money back
        _settled("stripe", "charge", reference, payment_id, None),
        _settled("stripe", "refund", refund, payment_id, refund),
        _settled("stripe", "refund_failure", refund, payment_id, refund),
    )
    result = await _match(ledger, "stripe", *listed)
    assert result.exceptions == ()
    assert sorted(m.item.kind for m in result.matched) == ["charge", "refund", "refund_failure"]


@pytest.mark.parametrize("gateway", ["stripe", "braintree"])
async def test_a_refund_failed_before_settling_nets_out(ledger: Ledger, gateway: str) -> None:
    payment_id, reference, _ = await _book_refunded_then_failed(ledger, gateway)
    # Only the sale settled: a credit declined at settlement is never listed.
    result = await _match(ledger, gateway, _settled(gateway, "charge", reference, payment_id, None))
    assert result.exceptions == ()
    assert [m.item.kind for m in result.matched] == ["charge"]
