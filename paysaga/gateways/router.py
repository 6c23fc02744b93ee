"""Pick a card gateway per payment, and fail over only when no authorization can have happened.

Rules are checked in order (currency, amount range, a stable share of payment
ids); a vaulted payment method pins its gateway. The route activity answers with
`choose`'s order and the payment workflow does the failover (workflows.payment), on
the flag `should_fail_over` sets on activity errors (activities.errors).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from paysaga.gateways.base import CardGateway
from paysaga.gateways.errors import RateLimited, Unavailable


def should_fail_over(error: BaseException) -> bool:
    """True only for errors that prove the gateway authorized nothing.

    Unavailable (5xx before any side effect, connection refused) and RateLimited
    qualify. OutcomeUnknown (sent, no answer), declines and invalid requests never
    do: trying another gateway could charge the customer twice or mask a real "no".
    """
    return isinstance(error, Unavailable | RateLimited)


@dataclass(frozen=True)
class RoutingRule:
    gateway: str
    currencies: frozenset[str] | None = None  # None = any currency
    min_amount_minor: int | None = None  # inclusive
    max_amount_minor: int | None = None  # inclusive
    percent: int = 100  # share of payment ids (stable hash) this rule applies to

    def __post_init__(self) -> None:
        if not 0 <= self.percent <= 100:
            raise ValueError("percent must be between 0 and 100")
        if self.currencies is not None:
            object.__setattr__(self, "currencies", frozenset(c.upper() for c in self.currencies))

    def matches(self, payment_id: str, currency: str, amount_minor: int) -> bool:
        if self.currencies is not None and currency.upper() not in self.currencies:
            return False
        if self.min_amount_minor is not None and amount_minor < self.min_amount_minor:
            return False
        if self.max_amount_minor is not None and amount_minor > self.max_amount_minor:
            return False
        return _bucket(payment_id) < self.percent


def _bucket(payment_id: str) -> int:
    # Stable across processes and restarts (unlike hash()), so a retried payment routes alike.
    return int.from_bytes(hashlib.sha256(payment_id.encode()).digest()[:4], "big") % 100


class GatewayRouter:
    def __init__(
        self, gateways: Mapping[str, CardGateway], rules: list[RoutingRule], default: str
    ) -> None:
        if default not in gateways:
            raise ValueError(f"default gateway {default!r} is not configured")
        for rule in rules:
            if rule.gateway not in gateways:
                raise ValueError(f"rule names unknown gateway {rule.gateway!r}")
        self.gateways = dict(gateways)
        self.rules = list(rules)
        self.default = default

    def choose(
        self, payment_id: str, currency: str, amount_minor: int, vaulted_gateway: str | None = None
    ) -> list[str]:
        """The preferred gateway first, then the failovers in configuration order."""
        if vaulted_gateway is not None:
            if vaulted_gateway not in self.gateways:
                raise ValueError(
                    f"payment method is vaulted at unknown gateway {vaulted_gateway!r}"
                )
            return [vaulted_gateway]  # the token only works there: no failover
        preferred = next(
            (r.gateway for r in self.rules if r.matches(payment_id, currency, amount_minor)),
            self.default,
        )
        return [preferred, *(name for name in self.gateways if name != preferred)]
