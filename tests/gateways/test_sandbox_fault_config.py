"""The fault dice: operation-specific faults hit only their operation; bad configs refused."""

from __future__ import annotations

import pytest

from paysaga.sandbox.faults import Fault, FaultConfig, FaultInjector
from paysaga.sandbox.visibility import SearchLag, lagging, searchable


def test_operation_faults_hit_only_their_operation() -> None:
    injector = FaultInjector(
        FaultConfig(capture_timeout_after_success_rate=1.0, refund_pending_then_failed_rate=1.0)
    )
    assert injector.roll(mutating=True) is Fault.NONE
    assert injector.roll(mutating=False) is Fault.NONE
    assert injector.roll(mutating=True, kind="capture") is Fault.CAPTURE_TIMEOUT_AFTER_SUCCESS
    assert injector.roll(mutating=True, kind="refund") is Fault.REFUND_PENDING_THEN_FAILED


def test_reads_never_get_late_or_malformed_answers() -> None:
    injector = FaultInjector(FaultConfig(late_success_rate=0.5, malformed_response_rate=0.5))
    assert {injector.roll(mutating=False) for _ in range(50)} == {Fault.NONE}
    assert {injector.roll(mutating=True) for _ in range(50)} == {
        Fault.LATE_SUCCESS,
        Fault.MALFORMED_RESPONSE,
    }


def test_faithful_defaults_and_validation() -> None:
    assert FaultConfig().braintree_idempotency_header is False
    with pytest.raises(ValueError):
        FaultConfig.from_mapping({"late_success_rate": 2})
    with pytest.raises(ValueError):
        FaultConfig.from_mapping({"search_lag_s": -1})


def test_lag_is_fixed_per_object_and_bounded() -> None:
    lag = SearchLag(1.0, 4.0)
    assert lag.lag_of("pi_1") == lag.lag_of("pi_1")
    assert all(1.0 <= lag.lag_of(f"pi_{n}") < 5.0 for n in range(100))
    with lagging(SearchLag(2.0)):
        assert not searchable("pi_1", created=100.0, now=101.0)
        assert searchable("pi_1", created=100.0, now=102.0)
        assert searchable("pi_old", created=None, now=100.0)  # from an older state file
    assert searchable("pi_1", created=100.0, now=100.0)  # no lag set: read-after-write
