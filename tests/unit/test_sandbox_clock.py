"""The Stripe sandbox's ACH settlement clock counts business days (issue 15 item 3)."""

from __future__ import annotations

from datetime import UTC, datetime

from paysaga.sandbox.stripe.clock import SandboxClock, business_days_between


def _ts(day: int, hour: int = 12) -> float:
    return datetime(2026, 12, day, hour, tzinfo=UTC).timestamp()  # 2026-12-04 is a Friday


def test_weekends_do_not_count() -> None:
    assert business_days_between(_ts(4), _ts(6)) == 0  # Friday -> Sunday
    assert business_days_between(_ts(4), _ts(7, 0)) == 1  # Monday's start
    assert business_days_between(_ts(4), _ts(10)) == 4  # Friday -> Thursday


def test_a_debit_is_due_after_four_business_days_of_the_sandbox_clock() -> None:
    clock = SandboxClock()
    created = clock.now()
    assert not clock.ach_due(created)
    clock.advance(business_days=3)
    assert not clock.ach_due(created)
    clock.advance(business_days=1)
    assert clock.ach_due(created)
