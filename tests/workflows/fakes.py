"""Mocked activities for workflow logic tests (sdk-python convention: same activity names).

`FakeWorld` plays the gateway and the ledger with scripted outcomes and records every call,
so tests can assert on what the workflow asked for, with which idempotency keys.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from paysaga.domain import activity_names as names
from paysaga.domain.failures import FailureDetails
from paysaga.domain.gateways import (
    GatewayAuthorizeInput,
    GatewayCancelInput,
    GatewayCaptureInput,
    GatewayLookupInput,
    GatewayRefundInput,
    GatewayRefundResult,
    GatewayRefundStatusInput,
    GatewayResult,
    LookupResult,
    RouteDecision,
    RouteRequest,
)
from paysaga.domain.ledger import (
    LedgerCaptureInput,
    LedgerEntryRef,
    LedgerHoldInput,
    LedgerReversalInput,
    LedgerVoidInput,
)


def declined(code: str, soft: bool) -> ApplicationError:
    return ApplicationError(
        f"card declined: {code}", code, soft, False, type="Declined", non_retryable=True
    )


@dataclass
class LedgerEntry:
    entry_id: str
    kind: str  # hold | capture | reversal
    amount_minor: int
    state: str  # pending | posted | voided
    payment_id: str


@dataclass
class FakeWorld:
    # Outcome of each authorize call in order; the last one repeats.
    # ok | soft | hard | unknown_done | unknown_lost | requires_action | unavailable | slow
    # | unavailable_done (the gateway charged, then the call still failed as unavailable)
    # | rate_limited (429 until the retries ran out; nothing was charged)
    # | malformed_done (charged, then an error the adapter did not recognise)
    # | refused (a 429 whose details say nothing was charged: FailureDetails.not_charged)
    authorize_script: list[str] = field(default_factory=lambda: ["ok"])
    gateways: tuple[str, ...] = ("stripe", "braintree")
    calls: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    payments: dict[str, GatewayResult] = field(default_factory=dict)
    entries: dict[str, LedgerEntry] = field(default_factory=dict)
    entry_keys: dict[str, str] = field(default_factory=dict)
    refund_delay_s: float = 0.0
    # Outcome of each refund call in order, the last one repeating: ok | unknown_done
    # (refunded, response lost) | unavailable (transient, retryable) | not_sent (failed
    # before anything was sent, FailureDetails.not_charged, final for the activity).
    refund_script: list[str] = field(default_factory=lambda: ["ok"])
    # (also: pending | failed, the refund's status at the gateway). Credits made, with
    # when; a gateway without idempotency keys whose search shows a credit this late.
    credits: list[tuple[datetime, GatewayRefundResult]] = field(default_factory=list)
    refund_search_lag: timedelta | None = None
    settled_only: bool = False  # partial refunds wait for settlement (Braintree)
    release_slow: asyncio.Event = field(default_factory=asyncio.Event)
    on_authorize: Callable[[GatewayAuthorizeInput], None] | None = None
    refuse_hold: bool = False  # the ledger refuses the hold for good (e.g. unknown account)
    lookup_failures: int = 0  # the first lookups fail for good (gateway unreachable)
    lookup_misses: int = 0  # then this many find nothing (the gateway's search lags)
    # Outcome of each capture call in order, the last one repeating: ok | unknown_done
    # (captured, response lost) | unavailable (transient, retryable; nothing captured).
    capture_script: list[str] = field(default_factory=lambda: ["ok"])
    # The ledger is away (shard down): postings fail as ShardUnavailable (retryable).
    ledger_down: bool = False
    # Gateways answering a repeated idempotency key with the first result, like Stripe
    # (https://docs.stripe.com/api/idempotent_requests); Braintree has no such key.
    idempotent_gateways: tuple[str, ...] = ("stripe",)
    # A declined sale stays at the gateway as a failed payment, visible to lookups (as
    # Braintree's processor_declined sales are).
    declines_visible: bool = False
    # Every sale the gateway made, with the attempt key it was made for.
    sales: list[tuple[str, GatewayResult]] = field(default_factory=list)
    stored: dict[str, GatewayResult | ApplicationError] = field(default_factory=dict)
    # The gateway's search lag bound that unknown outcomes carry (Settings.*_search_lag_s).
    search_lag_s: float | None = None

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.route,
            self.authorize,
            self.capture,
            self.cancel,
            self.refund,
            self.refund_status,
            self.lookup,
            self.hold,
            self.void,
            self.ledger_capture,
            self.reverse,
        ]

    def _next_outcome(self) -> str:
        index = len(self.calls["authorize"]) - 1
        return self.authorize_script[min(index, len(self.authorize_script) - 1)]

    # ------------------------------------------------------------- gateway

    @activity.defn(name=names.ROUTE_PAYMENT)
    async def route(self, request: RouteRequest) -> RouteDecision:
        self.calls["route"].append(request)
        order = list(self.gateways)
        if request.preferred_gateway in order:
            order.remove(request.preferred_gateway)
            order.insert(0, request.preferred_gateway)
        return RouteDecision(tuple(order))

    @activity.defn(name=names.AUTHORIZE)
    async def authorize(self, request: GatewayAuthorizeInput) -> GatewayResult:
        self.calls["authorize"].append(request)
        if self.on_authorize:
            self.on_authorize(request)
        stored = self.stored.get(request.idempotency_key)
        if stored is not None and request.gateway in self.idempotent_gateways:
            if isinstance(stored, ApplicationError):
                raise stored
            return self._current(stored)
        try:
            return await self._authorize(request)
        except ApplicationError as exc:
            if exc.type == "Declined":
                self.stored[request.idempotency_key] = exc
            raise

    def _failure(self, message: str, type_: str, **details: Any) -> ApplicationError:
        """A failure as activities.errors encodes it, with the gateway's search lag."""
        record = FailureDetails(search_lag_s=self.search_lag_s, **details)
        return ApplicationError(message, *record.as_details(), type=type_, non_retryable=True)

    def _record_sale(self, request: GatewayAuthorizeInput, result: GatewayResult) -> None:
        self.sales.append((request.idempotency_key, result))
        self.stored[request.idempotency_key] = result

    def _current(self, sale: GatewayResult) -> GatewayResult:
        """A recorded sale as it stands now (captured, canceled ... since)."""
        now = self.payments.get(sale.payment_id)
        return now if now is not None and now.reference == sale.reference else sale

    def _declined_sale(self, request: GatewayAuthorizeInput) -> None:
        if self.declines_visible:
            failed = GatewayResult(
                gateway=request.gateway,
                reference=f"ref-{len(self.calls['authorize'])}-{request.gateway}",
                payment_id=request.payment_id,
                state="failed",
                amount_minor=request.amount_minor,
                captured_minor=0,
                refunded_minor=0,
                currency=request.currency,
                decline_code="insufficient_funds",
            )
            self.sales.append((request.idempotency_key, failed))

    async def _authorize(self, request: GatewayAuthorizeInput) -> GatewayResult:
        outcome = self._next_outcome()
        if outcome == "slow":
            await self.release_slow.wait()
            outcome = "ok"
        if outcome == "soft":
            self._declined_sale(request)
            raise declined("insufficient_funds", soft=True)
        if outcome == "hard":
            self._declined_sale(request)
            raise declined("stolen_card", soft=False)
        if outcome == "unavailable":
            raise ApplicationError(
                "gateway down", None, False, True, type="Unavailable", non_retryable=True
            )
        if outcome == "rate_limited":
            raise ApplicationError(
                "slow down", None, False, True, type="RateLimited", non_retryable=True
            )
        if outcome == "refused":
            raise self._failure("slow down", "RateLimited", failover=True, not_charged=True)
        if outcome == "unknown_lost":
            raise self._failure("timed out", "OutcomeUnknown")
        state = "captured" if request.capture_now else "authorized"
        if outcome == "requires_action":
            state = "requires_action"
        result = GatewayResult(
            gateway=request.gateway,
            reference=f"ref-{len(self.calls['authorize'])}-{request.gateway}",
            payment_id=request.payment_id,
            state=state,
            amount_minor=request.amount_minor,
            captured_minor=request.amount_minor if state == "captured" else 0,
            refunded_minor=0,
            currency=request.currency,
        )
        if request.method_type == "ach" and state == "captured":  # ACH debit
            result = GatewayResult(**{**result.__dict__, "state": "processing"})
        self.payments[request.payment_id] = result
        self._record_sale(request, result)
        if outcome == "malformed_done":
            # The gateway charged, then the adapter choked on its answer: an error type
            # nobody classified (retryable by default, as the old activity raised it).
            raise ApplicationError(
                "'NoneType' object has no attribute 'amount_received'",
                type="AttributeError",
                non_retryable=True,
            )
        if outcome == "unknown_done":
            raise ApplicationError(
                "timed out after send", type="OutcomeUnknown", non_retryable=True
            )
        if outcome == "unavailable_done":
            raise ApplicationError(
                "gateway down", None, False, True, type="Unavailable", non_retryable=True
            )
        return result

    @activity.defn(name=names.CAPTURE)
    async def capture(self, request: GatewayCaptureInput) -> GatewayResult:
        self.calls["capture"].append(request)
        script = self.capture_script
        outcome = script[min(len(self.calls["capture"]) - 1, len(script) - 1)]
        if outcome == "unavailable":
            raise ApplicationError("gateway down", None, False, True, type="Unavailable")
        payment = self._by_reference(request.reference)
        if payment.state in ("captured", "settled"):  # a resend: the first capture's answer
            return payment
        amount = request.amount_minor or payment.amount_minor
        result = GatewayResult(
            **{**payment.__dict__, "state": "captured", "captured_minor": amount}
        )
        self.payments[payment.payment_id] = result
        if outcome == "unknown_done":
            raise ApplicationError(
                "timed out after send", type="OutcomeUnknown", non_retryable=True
            )
        return result

    @activity.defn(name=names.CANCEL)
    async def cancel(self, request: GatewayCancelInput) -> GatewayResult:
        self.calls["cancel"].append(request)
        payment = self._by_reference(request.reference)
        if payment.state in ("captured", "settled"):  # like the gateways: refund it instead
            raise ApplicationError(
                f"cannot cancel a {payment.state} payment",
                type="InvalidRequest",
                non_retryable=True,
            )
        result = GatewayResult(**{**payment.__dict__, "state": "canceled"})
        self.payments[payment.payment_id] = result
        return result

    @activity.defn(name=names.REFUND)
    async def refund(self, request: GatewayRefundInput) -> GatewayRefundResult:
        self.calls["refund"].append(request)
        if self.refund_delay_s:
            await asyncio.sleep(self.refund_delay_s)
        script = self.refund_script
        outcome = script[min(len(self.calls["refund"]) - 1, len(script) - 1)]
        if outcome == "unavailable":
            raise ApplicationError("gateway down", type="Unavailable")
        if outcome == "not_sent":  # as GatewayActivities.refund raises it when asked to
            assert request.workflow_resends_unsent, "a resend the activity should retry"
            raise self._failure("a read before the credit failed", "Unavailable", not_charged=True)
        payment = self._by_reference(request.reference)
        partial = request.amount_minor < payment.captured_minor
        if self.settled_only and payment.state != "settled" and partial:  # braintree_gateway
            raise ApplicationError("refunds wait until the capture has settled", type="Unavailable")
        credit = self._credit(request, payment, outcome)
        if outcome == "unknown_done":
            raise self._failure("timed out after send", "OutcomeUnknown")
        return credit

    def _credit(
        self, request: GatewayRefundInput, payment: GatewayResult, outcome: str
    ) -> GatewayRefundResult:
        """The refund the gateway makes for this call, or the one it already made.

        Without `refund_search_lag` the gateway replays an idempotency key (Stripe);
        with it, it has none (Braintree): the adapter searches for a credit with the key
        first, and a credit shows in that search only `refund_search_lag` after it was
        made (server time: the activity's schedule time, so workflow timers count).
        """
        now = activity.info().current_attempt_scheduled_time
        for made_at, made in self.credits:
            if made.reference != f"re-{request.idempotency_key}":
                continue
            lag = self.refund_search_lag
            if lag is None or now >= made_at + lag:
                return made
        status = outcome if outcome in ("pending", "failed") else "succeeded"
        credit = GatewayRefundResult(
            gateway=request.gateway,
            reference=f"re-{request.idempotency_key}",
            payment_reference=payment.reference,
            amount_minor=request.amount_minor,
            currency=payment.currency,
            status=status,
        )
        self.credits.append((now, credit))
        return credit

    @activity.defn(name=names.REFUND_STATUS)
    async def refund_status(self, request: GatewayRefundStatusInput) -> GatewayRefundResult:
        """A refund read by its id: its status now (`settle_refund` moves it on)."""
        self.calls["refund_status"].append(request)
        for _, made in self.credits:
            if made.reference == request.reference:
                return made
        raise ApplicationError(
            f"no refund {request.reference}", type="InvalidRequest", non_retryable=True
        )

    def settle_refund(self, reference: str, status: str) -> None:
        """A pending refund succeeds or fails at the gateway (reported by no webhook)."""
        self.credits = [
            (at, replace(c, status=status) if c.reference == reference else c)
            for at, c in self.credits
        ]

    def refunded_at_gateway(self) -> int:
        """Money the gateway gave back: every credit that did not fail."""
        return sum(c.amount_minor for _, c in self.credits if c.status != "failed")

    @activity.defn(name=names.LOOKUP)
    async def lookup(self, request: GatewayLookupInput) -> LookupResult:
        self.calls["lookup"].append(request)
        if len(self.calls["lookup"]) <= self.lookup_failures:
            raise ApplicationError("gateway unreachable", type="Unavailable", non_retryable=True)
        if len(self.calls["lookup"]) <= self.lookup_failures + self.lookup_misses:
            return LookupResult(found=False, payment=None)
        if getattr(request, "attempt_key", None) is None and not self.declines_visible:
            payment = self.payments.get(request.payment_id)
            return LookupResult(found=payment is not None, payment=payment)
        # Like the adapters: a live sale if any, else the latest failed one.
        sales = [
            self._current(sale)
            for key, sale in self.sales
            if sale.payment_id == request.payment_id
            and getattr(request, "attempt_key", None) in (None, key)
        ]
        live = [sale for sale in sales if sale.state != "failed"]
        pick = (live or sales)[-1] if sales else None
        return LookupResult(found=pick is not None, payment=pick)

    def _by_reference(self, reference: str) -> GatewayResult:
        for payment in self.payments.values():
            if payment.reference == reference:
                return payment
        raise ApplicationError(f"no payment {reference}", type="InvalidRequest", non_retryable=True)

    # ------------------------------------------------------------- ledger

    def _entry(self, key: str, kind: str, amount: int, state: str, payment_id: str) -> str:
        if key in self.entry_keys:  # idempotent like the real ledger
            return self.entry_keys[key]
        entry_id = f"e{len(self.entries) + 1}"
        self.entries[entry_id] = LedgerEntry(entry_id, kind, amount, state, payment_id)
        self.entry_keys[key] = entry_id
        return entry_id

    @activity.defn(name=names.LEDGER_HOLD)
    async def hold(self, request: LedgerHoldInput) -> LedgerEntryRef:
        self.calls["hold"].append(request)
        if self.refuse_hold:
            raise ApplicationError("no such account", type="UnknownAccount", non_retryable=True)
        entry_id = self._entry(
            request.idempotency_key, "hold", request.amount_minor, "pending", request.payment_id
        )
        return LedgerEntryRef(entry_id)

    @activity.defn(name=names.LEDGER_VOID)
    async def void(self, request: LedgerVoidInput) -> None:
        self.calls["void"].append(request)
        entry = self.entries[request.entry_id]
        if entry.state == "posted":  # like the real ledger: a posted hold stays posted
            raise ApplicationError("entry is posted", type="AlreadyPosted", non_retryable=True)
        entry.state = "voided"

    @activity.defn(name=names.LEDGER_CAPTURE)
    async def ledger_capture(self, request: LedgerCaptureInput) -> LedgerEntryRef:
        self.calls["ledger_capture"].append(request)
        self._ledger_up()
        if request.hold_entry_id:
            # Like the real ledger: one key, one posting (of one hold).
            first = self.entry_keys.setdefault(request.idempotency_key, request.hold_entry_id)
            if first != request.hold_entry_id:
                raise ApplicationError(
                    "idempotency key reused for another entry",
                    type="IdempotencyConflict",
                    non_retryable=True,
                )
            self.entries[request.hold_entry_id].state = "posted"
            self.entries[request.hold_entry_id].amount_minor = request.amount_minor
            return LedgerEntryRef(request.hold_entry_id)
        return LedgerEntryRef(
            self._entry(
                request.idempotency_key,
                "capture",
                request.amount_minor,
                "posted",
                request.payment_id,
            )
        )

    @activity.defn(name=names.LEDGER_REVERSE)
    async def reverse(self, request: LedgerReversalInput) -> LedgerEntryRef:
        self.calls["reverse"].append(request)
        self._ledger_up()
        return LedgerEntryRef(
            self._entry(
                request.idempotency_key,
                "reversal",
                request.amount_minor,
                "posted",
                request.payment_id,
            )
        )

    def _ledger_up(self) -> None:
        if self.ledger_down:
            raise ApplicationError("ledger shard 0 unavailable", type="ShardUnavailable")

    def net_posted(self, payment_id: str) -> int:
        """Captured minus reversed, as the ledger would show it."""
        total = 0
        for entry in self.entries.values():
            if entry.payment_id != payment_id or entry.state != "posted":
                continue
            total += -entry.amount_minor if entry.kind == "reversal" else entry.amount_minor
        return total
