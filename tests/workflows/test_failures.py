"""The one failure format: activities.errors encodes, workflows.failures.classify decodes."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import timedelta
from typing import Any

import pytest
from temporalio.exceptions import ActivityError, ApplicationError

from activities.errors import gateway_application_error, ledger_application_error
from ledger.errors import LedgerError, UnknownAccount
from paysaga import gateways
from paysaga.domain.failures import ErrorType, FailureDetails
from paysaga.gateways.braintree_webhooks import WebhookSignatureInvalid
from paysaga.gateways.errors import (
    Declined,
    GatewayError,
    RateLimited,
    RetryableGatewayError,
    Unavailable,
)
from tests.workflows.helpers import over_the_wire
from workflows.failures import Failure, classify


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set(cls.__subclasses__())
    return found.union(*(_subclasses(c) for c in found))


def test_every_error_class_has_its_type_constant() -> None:
    for module in pkgutil.iter_modules(gateways.__path__, "paysaga.gateways."):
        importlib.import_module(module.name)  # every subclass, whatever ran before
    classes = {GatewayError, LedgerError} | _subclasses(GatewayError) | _subclasses(LedgerError)
    never_sent = {
        RetryableGatewayError,  # abstract
        WebhookSignatureInvalid,  # raised by the API's webhook endpoint, not an activity
    }
    assert {c.__name__ for c in classes - never_sent} <= {t.value for t in ErrorType}


def test_new_details_decode_after_crossing_temporal() -> None:
    declined = Declined("no", gateway="stripe", decline_code="insufficient_funds", soft=True)
    failure = classify(over_the_wire(gateway_application_error(declined)))
    assert failure == Failure("Declined", "no", "insufficient_funds", True, False)
    limited = classify(over_the_wire(gateway_application_error(RateLimited("x", gateway="b"))))
    assert (limited.type, limited.failover) == (ErrorType.RATE_LIMITED, True)
    ledger = classify(over_the_wire(ledger_application_error(UnknownAccount("no such"))))
    assert ledger.code == "unknown_account" and ledger.decline_code is None
    assert ledger.reason() == "UnknownAccount (unknown_account): no such"


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (["insufficient_funds", True, False], ("insufficient_funds", True, False)),
        ([None, False, True], (None, False, True)),
        (["unknown_account"], ("unknown_account", False, False)),  # a ledger error's code
        ([], (None, False, False)),
    ],
)
def test_legacy_positional_details_decode_as_before(
    details: list[Any], expected: tuple[str | None, bool, bool]
) -> None:
    error = ApplicationError("m", *details, type="Declined")
    failure = classify(over_the_wire(error))
    assert (failure.decline_code, failure.soft, failure.failover) == expected


def test_details_raised_in_process_decode_too() -> None:
    error = ApplicationError("m", FailureDetails("do_not_honor"), type="Declined")
    activity = over_the_wire(ApplicationError("unused"))
    activity.__cause__ = error
    assert classify(activity).decline_code == "do_not_honor"


def _legacy_classify(error: ActivityError) -> tuple[str | None, bool, bool]:
    """The decoder workflow workers ran before FailureDetails, verbatim in effect."""
    assert isinstance(error.cause, ApplicationError)
    details = list(error.cause.details)
    decline_code = details[0] if details and isinstance(details[0], str) else None
    soft = bool(details[1]) if len(details) > 1 else False
    failover = bool(details[2]) if len(details) > 2 else False
    return decline_code, soft, failover


def test_workflow_workers_older_than_the_record_read_new_failures_alike() -> None:
    """Rolling deploy: an old workflow worker reads a new activity worker's failure.
    Without the positional prefix it saw a soft decline as hard (no dunning)."""
    soft = Declined("no", gateway="stripe", decline_code="insufficient_funds", soft=True)
    assert _legacy_classify(over_the_wire(gateway_application_error(soft))) == (
        "insufficient_funds",
        True,
        False,
    )
    limited = gateway_application_error(RateLimited("x", gateway="b"))
    assert _legacy_classify(over_the_wire(limited)) == (None, False, True)
    ledger = ledger_application_error(UnknownAccount("no such"))
    assert _legacy_classify(over_the_wire(ledger)) == ("unknown_account", False, False)


def test_a_refusal_proves_nothing_charged_and_a_5xx_does_not() -> None:
    """A 429 or a connection never made says the send charged nothing (the workflow may
    resend at once); a 5xx may follow the work, so it says no such thing."""
    limited = RateLimited("slow down", gateway="braintree", http_status=429)
    refused = Unavailable("connection refused", gateway="braintree")
    answered = Unavailable("server error", gateway="braintree", http_status=500)
    decode = [
        classify(over_the_wire(gateway_application_error(e, search_lag_s=7.5)))
        for e in (limited, refused, answered)
    ]
    assert [f.not_charged for f in decode] == [True, True, False]
    assert {f.search_lag for f in decode} == {timedelta(seconds=7.5)}
    final = gateway_application_error(limited, final=True)
    assert final.non_retryable and not gateway_application_error(limited).non_retryable
