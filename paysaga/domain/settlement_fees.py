"""Processing fees for settlement listings that do not report them, and the double entry
of one settled item.

The Braintree adapter reads no fee from the gateway: it prices each settled sale with
this schedule, and reconciliation books the result as gateway fees
(activities.reconciliation). Stripe reports the fee on every balance transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from paysaga.domain.reconciliation import INFLOW_KINDS

Role = Literal["receivable", "cash", "fees"]
Side = Literal["debit", "credit"]


@dataclass(frozen=True)
class FeeSchedule:
    """What the processor keeps per settled sale: percentage (basis points) + fixed."""

    percent_bps: int = 290
    fixed_minor: int = 30

    def fee(self, amount_minor: int) -> int:
        """Half-up rounding of the percentage to a whole minor unit, plus the fixed part."""
        return (amount_minor * self.percent_bps + 5_000) // 10_000 + self.fixed_minor


@dataclass(frozen=True)
class SettlementLeg:
    role: Role  # gateway receivable, bank cash or gateway fees
    direction: Side
    amount_minor: int  # > 0


def settlement_legs(kind: str, amount_minor: int, fee_minor: int) -> tuple[SettlementLeg, ...]:
    """The balanced entry of one settled item: cash moves by the item's net.

    Money in (a charge, a failed refund given back): the receivable is settled by the gross,
    the fee is an expense, and cash moves by gross - fee. When the fee exceeds the sale,
    that net is negative: the gateway keeps the whole sale and takes the rest of its fee
    from our balance (Stripe: a balance transaction with a negative net, deducted from the
    payout), so cash is credited. Crediting the receivable instead would leave it owing
    forever, since later items settle it by their own gross. Money out (a refund): the
    receivable gets the gross back and cash pays gross + fee. Cash legs summed over a
    listing are thus its payout.
    """
    inflow = kind in INFLOW_KINDS
    cash = amount_minor - fee_minor if inflow else -(amount_minor + fee_minor)
    # Positive: debit, negative: credit. The order is the one entries were posted in
    # before, so a rerun of an old period replays them (same body) rather than conflicting.
    signed: list[tuple[Role, int]] = [
        ("receivable", -amount_minor if inflow else amount_minor),
        ("cash", cash),
        ("fees", fee_minor),
    ]
    return tuple(
        SettlementLeg(role, "debit" if value > 0 else "credit", abs(value))
        for role, value in signed
        if value != 0
    )
