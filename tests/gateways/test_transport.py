"""The one transport classifier, and each card gateway's semantics through it (no network)."""

from __future__ import annotations

import pytest
import requests
import stripe
import urllib3
from braintree.exceptions.gateway_timeout_error import GatewayTimeoutError
from braintree.exceptions.http.connection_error import ConnectionError as BtConnectionError
from braintree.exceptions.server_error import ServerError

from paysaga.gateways import braintree_errors, stripe_errors
from paysaga.gateways.errors import GatewayError, OutcomeUnknown, Unavailable
from paysaga.gateways.transport import (
    BRAINTREE,
    STRIPE,
    TransportSemantics,
    Wire,
    not_sent,
    transport_error,
)

RULE = TransportSemantics("any")  # the defaults are the money-safety rule


def kind(
    semantics: TransportSemantics, wire: Wire, *, mutating: bool, status: int | None = None
) -> type[GatewayError]:
    error = transport_error(semantics, wire, mutating=mutating, message="m", status=status)
    return type(error)


@pytest.mark.parametrize("semantics", [RULE, STRIPE, BRAINTREE], ids=["rule", "stripe", "bt"])
def test_never_sent_is_always_unavailable(semantics: TransportSemantics) -> None:
    for mutating in (True, False):
        assert kind(semantics, Wire.NOT_SENT, mutating=mutating) is Unavailable


def test_the_rule() -> None:
    assert kind(RULE, Wire.NO_ANSWER, mutating=True) is OutcomeUnknown
    assert kind(RULE, Wire.NO_ANSWER, mutating=False) is Unavailable
    for status in (500, 502, 503, 504):
        assert kind(RULE, Wire.ANSWERED, mutating=True, status=status) is OutcomeUnknown
        assert kind(RULE, Wire.ANSWERED, mutating=False, status=status) is Unavailable
    assert kind(RULE, Wire.ANSWERED, mutating=True, status=408) is Unavailable


def test_where_the_gateways_depart_from_the_rule() -> None:
    # Stripe: every 5xx is Unavailable (same-key retries replay); lost reads are unknown.
    assert kind(STRIPE, Wire.ANSWERED, mutating=True, status=500) is Unavailable
    assert kind(STRIPE, Wire.NO_ANSWER, mutating=False) is OutcomeUnknown
    # Braintree: only a 504 leaves a write open.
    assert kind(BRAINTREE, Wire.ANSWERED, mutating=True, status=504) is OutcomeUnknown
    assert kind(BRAINTREE, Wire.ANSWERED, mutating=True, status=500) is Unavailable
    assert kind(BRAINTREE, Wire.NO_ANSWER, mutating=False) is Unavailable


def _connection_error(reason: Exception) -> requests.ConnectionError:
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


REFUSED = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
UNRESOLVED = urllib3.exceptions.NameResolutionError("host", None, OSError("gai"))  # type: ignore[arg-type]


def test_not_sent_follows_the_chain() -> None:
    assert not_sent(_connection_error(REFUSED), BRAINTREE) == "connection refused"
    assert not_sent(BtConnectionError(_connection_error(REFUSED)), BRAINTREE) is not None
    timeout = requests.ConnectTimeout(urllib3.exceptions.MaxRetryError(None, "/"))  # type: ignore[arg-type]
    assert not_sent(timeout, STRIPE) == "connect timeout"
    dropped = urllib3.exceptions.ProtocolError("aborted", ConnectionResetError())
    assert not_sent(requests.ConnectionError(dropped), STRIPE) is None
    # An unresolved host opened no connection; Braintree's adapter never counted it so.
    assert not_sent(_connection_error(UNRESOLVED), STRIPE) == "connection refused"
    assert not_sent(_connection_error(UNRESOLVED), BRAINTREE) is None


def test_braintree_sdk_errors() -> None:
    def error(exc: Exception, mutating: bool) -> GatewayError | None:
        return braintree_errors.sdk_error(exc, mutating=mutating, retry_after=4.0)

    server = error(ServerError(), True)
    assert isinstance(server, Unavailable) and server.retry_after == 4.0
    assert server.message == "Braintree ServerError"
    gateway_timeout = error(GatewayTimeoutError(), True)
    assert isinstance(gateway_timeout, OutcomeUnknown)
    assert gateway_timeout.message.endswith(": the request may have taken effect")
    assert isinstance(error(GatewayTimeoutError(), False), Unavailable)
    refused = error(BtConnectionError(_connection_error(REFUSED)), True)
    assert isinstance(refused, Unavailable) and refused.message == "connection refused"
    assert isinstance(error(BtConnectionError(_connection_error(UNRESOLVED)), True), OutcomeUnknown)
    assert error(ValueError("not the SDK's"), True) is None


def test_stripe_sdk_errors() -> None:
    def connection_error(cause: Exception) -> stripe.APIConnectionError:
        exc = stripe.APIConnectionError("network")  # type: ignore[no-untyped-call]
        exc.__cause__ = cause
        return exc

    down = stripe_errors.map_stripe_error(stripe.APIError("x", http_status=503), mutating=True)
    assert isinstance(down, Unavailable) and down.http_status == 503
    refused = connection_error(_connection_error(REFUSED))
    mapped = stripe_errors.map_stripe_error(refused, mutating=True)
    assert mapped.message == "stripe unreachable (connection refused)"
    lost = connection_error(requests.ReadTimeout())
    for mutating in (True, False):
        unknown = stripe_errors.map_stripe_error(lost, mutating=mutating)
        assert isinstance(unknown, OutcomeUnknown)
        assert unknown.message == "stripe request outcome unknown (ReadTimeout)"
