"""One classifier for transport failures of both card gateways.

The money-safety rule: once a write may have reached the gateway and no clear answer
came back, its outcome is unknown (OutcomeUnknown). That is never retried blindly nor
failed over; the workflow asks the gateway (lookup) first. Unavailable, which Temporal
retries and which allows failing over to another gateway, is for failures that prove
the gateway did nothing: the connection was never made, or an answer that says so.

`TransportSemantics` holds how one gateway's failures read under that rule. Its
defaults are the rule itself; STRIPE and BRAINTREE override them where their
adapters have always behaved otherwise, which this module keeps unchanged so that no
payment sees a different error. Each override says why it differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import requests
import urllib3

from paysaga.gateways.errors import GatewayError, OutcomeUnknown, Unavailable
from paysaga.gateways.types import GatewayName


class Wire(Enum):
    """How far a failed request got."""

    NOT_SENT = "not_sent"  # refused, connect timeout, unresolved host: the gateway saw nothing
    NO_ANSWER = "no_answer"  # sent, then a read timeout, a dropped connection, a garbled answer
    ANSWERED = "answered"  # the gateway answered with an error status (5xx, 408, ...)


@dataclass(frozen=True)
class TransportSemantics:
    gateway: str
    # Answers after which a write may have taken effect (an upstream timeout, a crash
    # mid-request). By the rule: every 5xx.
    unknown_statuses: frozenset[int] = frozenset(range(500, 600))
    # A read that got no answer is reported as OutcomeUnknown too. By the rule: no,
    # since a read changes nothing and is safe to retry (Unavailable).
    unknown_reads: bool = False
    # A failed name lookup counts as "never sent" (it is: no connection was opened).
    unresolved_host_not_sent: bool = True


STRIPE = TransportSemantics(
    GatewayName.STRIPE.value,
    # Stripe's 5xx have always been Unavailable. Temporal's retries of one are safe:
    # Stripe's idempotency layer answers a same-key retry with the first request's
    # stored result, so nothing is charged twice. Failing over after the last retry is
    # what the rule guards against; the workflow looks the payment up first there
    # (PaymentWorkflow._charged_despite).
    unknown_statuses=frozenset(),
    # Any lost answer has always been OutcomeUnknown, reads (retrieve, lookup,
    # listings) included: such a read fails at once instead of being retried.
    unknown_reads=True,
)

BRAINTREE = TransportSemantics(
    GatewayName.BRAINTREE.value,
    # Only a 504 (upstream timeout) leaves a Braintree write open: the SDK's 500, 503,
    # 408 and other 5xx have always been Unavailable. Retries of one go through the
    # adapter's read-before-write (order ids); failover is guarded as for Stripe.
    unknown_statuses=frozenset({504}),
    # The adapter recognised refusals by class name, which misses urllib3's
    # NameResolutionError: a DNS failure is a dropped connection (unknown for writes).
    unresolved_host_not_sent=False,
)


def transport_error(
    semantics: TransportSemantics,
    wire: Wire,
    *,
    mutating: bool,
    message: str,
    unknown_message: str | None = None,
    status: int | None = None,
    retry_after: float | None = None,
    request_id: str | None = None,
) -> GatewayError:
    """Unavailable or OutcomeUnknown for a failed request, by `semantics`.

    `message` is used for Unavailable, `unknown_message` (default: `message`) for
    OutcomeUnknown; `retry_after` (seconds) only matters for Unavailable.
    """
    if wire is Wire.NOT_SENT:
        unknown = False
    elif wire is Wire.ANSWERED:
        unknown = mutating and status in semantics.unknown_statuses
    else:
        unknown = mutating or semantics.unknown_reads
    gateway = semantics.gateway
    if unknown:
        return OutcomeUnknown(
            unknown_message or message, gateway=gateway, http_status=status, request_id=request_id
        )
    return Unavailable(
        message,
        gateway=gateway,
        retry_after=retry_after,
        http_status=status,
        request_id=request_id,
    )


def not_sent(exc: BaseException, semantics: TransportSemantics) -> str | None:
    """Why the request never left ("connect timeout", "connection refused"), else None.

    Follows the chain of wrapped exceptions (SDK error -> requests -> urllib3 -> OSError).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, requests.exceptions.ConnectTimeout):
            return "connect timeout"
        unresolved = isinstance(current, urllib3.exceptions.NameResolutionError)
        if isinstance(current, ConnectionRefusedError) or (
            isinstance(current, urllib3.exceptions.NewConnectionError)
            and (semantics.unresolved_host_not_sent or not unresolved)
        ):
            return "connection refused"
        inner = (
            current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        )
        reason = getattr(current, "reason", None)
        current = (
            inner
            or (reason if isinstance(reason, BaseException) else None)
            or (current.__cause__ or current.__context__)
        )
    return None


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds; None when absent or not a number."""
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
