"""Settlement entries on the real ledger: balanced whatever the fee (issue 13, defect 10),
and a refund the gateway gave back (Stripe `refund_failure`) is booked as money in."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.testing import ActivityEnvironment

from activities import chart
from activities.chart import AccountDef, Chart
from activities.reconciliation import ReconciliationActivities
from ledger.service import Ledger
from paysaga.domain.reconciliation import (
    MatchedItem,
    PostSettlementInput,
    PostSettlementResult,
    SettledItem,
)
from tests.ledger.conftest import unique

AT = datetime(2026, 1, 2, tzinfo=UTC)


def _matched(kind: str, amount: int, fee: int, ref: str) -> MatchedItem:
    item = SettledItem(
        gateway="stripe",
        reference=ref,
        payment_id=f"p-{ref}",
        kind=kind,
        amount_minor=amount,
        fee_minor=fee,
        currency="USD",
        settled_at=AT,
        refund_reference=f"re_{ref}" if kind != "charge" else None,
    )
    return MatchedItem(item=item, entry_id="0-1", payment_id=f"p-{ref}")


ACCOUNTS = (
    chart.gateway_receivable("stripe", "USD", 0),
    chart.bank_cash("USD", 0),
    chart.gateway_fees("stripe", "USD", 0),
)


async def _balances(ledger: Ledger) -> tuple[int, ...]:
    """(receivable, cash, fees) posted on shard 0; the receivable exists since its capture."""
    await Chart(ledger).ensure(AccountDef(ACCOUNTS[0], "USD", "debit", shard=0))
    await Chart(ledger).settlement_accounts("stripe", "USD", 0)
    return tuple([(await ledger.get_balances(a)).posted for a in ACCOUNTS])


def _moved(before: tuple[int, ...], after: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(b - a for a, b in zip(before, after, strict=True))


async def _post(ledger: Ledger, *items: MatchedItem) -> PostSettlementResult:
    recon = ReconciliationActivities(ledger, report_dsn="")
    request = PostSettlementInput("r1", "stripe", items)
    return await ActivityEnvironment().run(recon.post_settlements, request)


async def test_a_fee_above_the_sale_is_booked_balanced(ledger: Ledger) -> None:
    before = await _balances(ledger)
    # A 50-cent sale with a 59-cent fee: the gateway keeps the sale and 9 cents more.
    result = await _post(ledger, _matched("charge", 50, 59, unique("pi")))
    assert result.posted == 1 and result.fees_minor == {"USD": 59}
    # Receivable settled by the sale, fee expensed, cash down by the negative net.
    middle = await _balances(ledger)
    assert _moved(before, middle) == (-50, -9, 59)
    # A fee equal to the sale: no cash moves.
    await _post(ledger, _matched("charge", 30, 30, unique("pi")))
    assert _moved(middle, await _balances(ledger)) == (-30, 0, 30)
    report = await ledger.verify()
    assert report.ok, report.violations


async def test_a_failed_refund_is_money_back(ledger: Ledger) -> None:
    before = await _balances(ledger)
    ref = unique("pi")
    items = (_matched("refund", 400, 0, ref), _matched("refund_failure", 400, 0, ref))
    assert (await _post(ledger, items[0])).posted == 1
    assert _moved(before, await _balances(ledger)) == (400, -400, 0)
    assert (await _post(ledger, *items)).posted == 1  # the refund replays
    # The refund paid out 400 and its failure brought 400 back: no net movement.
    assert await _balances(ledger) == before
