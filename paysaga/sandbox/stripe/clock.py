"""The Stripe sandbox's clock for ACH settlement, counted in business days.

Stripe keeps a `us_bank_account` PaymentIntent `processing` until the debit settles,
4 business days after submission on the standard schedule
(https://docs.stripe.com/payments/ach-direct-debit/accept-a-payment and
https://docs.stripe.com/payments/ach-direct-debit#timing). The sandbox settles a
debit once its clock has passed that many business days (Monday to Friday; bank
holidays are not modelled). Tests move the clock with `POST /__sandbox/clock`
instead of waiting days; the offset is the only thing that changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

# Stripe's standard ACH Direct Debit settlement time.
ACH_SETTLEMENT_BUSINESS_DAYS: Final = 4


def business_days_between(start: float, end: float) -> int:
    """Weekdays whose start (midnight UTC) lies in (start, end]: days a debit has waited."""
    day = datetime.fromtimestamp(start, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    stop = datetime.fromtimestamp(end, UTC)
    count = 0
    day += timedelta(days=1)
    while day <= stop:
        count += day.weekday() < 5
        day += timedelta(days=1)
    return count


@dataclass
class SandboxClock:
    offset_s: float = 0.0
    ach_business_days: int = ACH_SETTLEMENT_BUSINESS_DAYS

    def now(self) -> float:
        return time.time() + self.offset_s

    def advance(self, *, business_days: int = 0, days: int = 0) -> float:
        """Move on `days` calendar days, then `business_days` weekdays; the new now."""
        self.offset_s += days * 86400
        moved = 0
        while moved < business_days:
            self.offset_s += 86400
            moved += datetime.fromtimestamp(self.now(), UTC).weekday() < 5
        return self.now()

    def ach_due(self, created: float) -> bool:
        return business_days_between(created, self.now()) >= self.ach_business_days
