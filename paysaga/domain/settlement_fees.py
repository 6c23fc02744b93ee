"""Processing fees for settlement listings that do not report them.

The Braintree adapter reads no fee from the gateway: it prices each settled sale with
this schedule, and reconciliation books the result as gateway fees
(activities.reconciliation). Stripe reports the fee on every balance transaction.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeeSchedule:
    """What the processor keeps per settled sale: percentage (basis points) + fixed."""

    percent_bps: int = 290
    fixed_minor: int = 30

    def fee(self, amount_minor: int) -> int:
        """Half-up rounding of the percentage to a whole minor unit, plus the fixed part."""
        return (amount_minor * self.percent_bps + 5_000) // 10_000 + self.fixed_minor
