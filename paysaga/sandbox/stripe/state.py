"""In-memory Stripe: the tables of objects, and customers, payment methods and intents.

The objects and their state machine, no HTTP. Every public method runs under one
lock and returns copies of JSON-ready dicts shaped like Stripe's objects (built in
`render`); failures raise StripeApiError carrying Stripe's error fields. State
changes queue events in `outbox`, which the server drains into webhooks.
Refunds, settlement and search work on this state from their own modules.

The state is pickled across restarts (`persistence`): keep attribute names.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from paysaga.sandbox.stripe import render
from paysaga.sandbox.stripe.cards import (
    DECLINE_CODES,
    DECLINE_MESSAGES,
    MAGIC_CARDS,
    SOFT_THEN_SUCCESS_ATTEMPT,
)
from paysaga.sandbox.stripe.clock import SandboxClock
from paysaga.sandbox.stripe.errors import Obj, StripeApiError, invalid, missing

_OPEN_STATES = ("requires_payment_method", "requires_confirmation", "requires_action")


def pop_due(table: dict[str, float], cutoff: float) -> list[str]:
    """Remove and return the ids in an id -> time table whose time is at or before
    `cutoff` (caller holds the lock)."""
    due = [ident for ident, at in table.items() if at <= cutoff]
    for ident in due:
        del table[ident]
    return due


@dataclass
class Tamper:
    action: str  # "drop" | "alter_amount"
    delta_minor: int = 0


@dataclass
class Stats:
    payment_intents_created: int = 0
    charges_created: int = 0
    refunds_created: int = 0
    idempotent_replays: int = 0
    webhooks_queued: int = 0
    captured_minor: Counter[str] = field(default_factory=Counter)
    refunded_minor: Counter[str] = field(default_factory=Counter)
    intents_per_payment_id: Counter[str] = field(default_factory=Counter)
    successful_charges_per_payment_id: Counter[str] = field(default_factory=Counter)


class StripeState:
    created_precise: dict[str, float]
    refund_failures: dict[str, float]

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.customers: dict[str, Obj] = {}
        self.payment_methods: dict[str, Obj] = {}
        self.behaviour: dict[str, str] = {}  # pm id -> magic behaviour
        self.bank_accounts: dict[str, Obj] = {}
        self.clock = SandboxClock()  # decides when a pending ACH debit settles
        self.ach_submitted_at: dict[str, float] = {}  # charge id -> sandbox clock reading
        self.intents: dict[str, Obj] = {}
        self.charges: dict[str, Obj] = {}
        self.refunds: dict[str, Obj] = {}
        self.balance: list[Obj] = []  # balance transactions, oldest first
        self.captured_at: dict[str, float] = {}  # charge id -> capture time, until settled
        self.refund_pending: dict[str, float] = {}  # refund id -> time, until settled
        self.tampers: dict[str, Tamper] = {}  # payment intent id -> pending tamper
        self.attempts: Counter[str] = Counter()  # soft-then-success counters
        self.outbox: list[tuple[str, Obj]] = []
        self.stats = Stats()
        self._add_late_attributes()

    def _add_late_attributes(self) -> None:
        """Attributes newer than some state files; `__setstate__` fills them in."""
        # Object id -> precise creation time, for the search visibility lag.
        self.__dict__.setdefault("created_precise", {})
        # Refund id -> when it fails (the refund_pending_then_failed fault).
        self.__dict__.setdefault("refund_failures", {})

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._add_late_attributes()

    # -- events and lookups --------------------------------------------------------

    def emit(self, type_: str, obj: Obj) -> None:
        """Queue an event carrying a snapshot of `obj` (caller holds the lock)."""
        self.outbox.append((type_, copy.deepcopy(obj)))

    def drain_events(self) -> list[tuple[str, Obj]]:
        with self.lock:
            events, self.outbox = self.outbox, []
            return events

    def find(self, ident: str) -> Obj | None:
        for table in (
            self.intents,
            self.charges,
            self.refunds,
            self.customers,
            self.payment_methods,
            self.bank_accounts,
        ):
            if ident in table:
                return table[ident]
        for txn in self.balance:
            if txn["id"] == ident:
                return txn
        return None

    # -- customers and payment methods ------------------------------------------

    def create_customer(self, email: str | None, name: str | None, meta: dict[str, str]) -> Obj:
        with self.lock:
            customer = render.customer(email, name, meta)
            self.customers[customer["id"]] = customer
            return copy.deepcopy(customer)

    def customer(self, ident: str) -> Obj:
        with self.lock:
            if ident not in self.customers:
                raise missing("customer", ident)
            return copy.deepcopy(self.customers[ident])

    def set_default_payment_method(self, customer_id: str, pm_id: str) -> None:
        with self.lock:
            self.customers[customer_id]["invoice_settings"]["default_payment_method"] = pm_id

    def attach(self, pm_ident: str, customer_id: str) -> Obj:
        with self.lock:
            if customer_id not in self.customers:
                raise missing("customer", customer_id, "customer")
            if pm_ident in MAGIC_CARDS:
                # Like Stripe test mode: attaching a test card makes a new PaymentMethod.
                brand, last4, behaviour = MAGIC_CARDS[pm_ident]
                pm = render.card_payment_method(brand, last4, customer_id)
                self.payment_methods[pm["id"]] = pm
                self.behaviour[pm["id"]] = behaviour
                return copy.deepcopy(pm)
            pm = self.payment_methods.get(pm_ident) or {}
            if not pm:
                raise missing("PaymentMethod", pm_ident, "payment_method")
            if pm["customer"] not in (None, customer_id):
                raise invalid(
                    "The payment method you provided has already been attached to a customer.",
                    code="payment_method_unexpected_state",
                )
            pm["customer"] = customer_id
            return copy.deepcopy(pm)

    def payment_method(self, ident: str) -> Obj:
        with self.lock:
            if ident in MAGIC_CARDS:
                brand, last4, _ = MAGIC_CARDS[ident]
                return render.magic_card(ident, brand, last4)
            if ident not in self.payment_methods:
                raise missing("PaymentMethod", ident)
            return copy.deepcopy(self.payment_methods[ident])

    def add_bank_source(self, customer_id: str, token: str) -> Obj:
        """`source=btok_...` (e.g. from Plaid's processor token) becomes a bank account."""
        with self.lock:
            if customer_id not in self.customers:
                raise missing("customer", customer_id)
            if not token.startswith("btok_"):
                raise missing("token", token, "source")
            account = render.bank_account(customer_id)
            self.bank_accounts[account["id"]] = account
            if self.customers[customer_id]["default_source"] is None:
                self.customers[customer_id]["default_source"] = account["id"]
            return copy.deepcopy(account)

    # -- payment intents --------------------------------------------------------

    def create_intent(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str | None,
        customer: str | None,
        capture_method: str,
        confirm: bool,
        metadata: dict[str, str],
        description: str | None,
        payment_method_types: list[str],
    ) -> Obj:
        with self.lock:
            if amount < 1 or amount > 99_999_999:
                raise invalid(
                    "Amount must be between 1 and 99999999.",
                    code="amount_too_small",
                    param="amount",
                )
            if not re.fullmatch(r"[a-z]{3}", currency):
                raise invalid(f"Invalid currency: {currency}.", param="currency")
            if capture_method not in ("automatic", "automatic_async", "manual"):
                raise invalid(f"Invalid capture_method: {capture_method}", param="capture_method")
            if customer is not None and customer not in self.customers:
                raise missing("customer", customer, "customer")
            if payment_method is not None:
                self._check_payment_method(payment_method, customer)
            intent = render.payment_intent(
                amount=amount,
                currency=currency,
                payment_method=payment_method,
                customer=customer,
                capture_method=capture_method,
                metadata=metadata,
                description=description,
                payment_method_types=payment_method_types,
            )
            self.intents[intent["id"]] = intent
            self.created_precise[intent["id"]] = time.time()
            self.stats.payment_intents_created += 1
            if metadata.get("payment_id"):
                self.stats.intents_per_payment_id[metadata["payment_id"]] += 1
            self.emit("payment_intent.created", intent)
            if confirm:
                if payment_method is None:
                    raise invalid(
                        "You cannot confirm this PaymentIntent because it's missing a payment "
                        "method.",
                        code="payment_intent_unexpected_state",
                        param="payment_method",
                    )
                self._confirm(intent)
            return copy.deepcopy(intent)

    def _check_payment_method(self, pm: str, customer: str | None) -> None:
        if pm in MAGIC_CARDS:
            return
        owner: str | None
        if pm in self.payment_methods:
            owner = self.payment_methods[pm]["customer"]
        elif pm in self.bank_accounts:
            owner = self.bank_accounts[pm]["customer"]
        else:
            raise missing("PaymentMethod", pm, "payment_method")
        if owner is not None and owner != customer:
            raise invalid(
                "The provided PaymentMethod belongs to another customer.",
                code="payment_method_unexpected_state",
                param="payment_method",
            )

    def _new_charge(self, intent: Obj, status: str) -> Obj:
        charge = render.charge(intent, status)
        self.charges[charge["id"]] = charge
        intent["latest_charge"] = charge["id"]
        self.stats.charges_created += 1
        return charge

    def _behaviour(self, intent: Obj) -> str:
        pm = intent["payment_method"]
        if pm in self.bank_accounts:
            return "ach"
        behaviour = MAGIC_CARDS[pm][2] if pm in MAGIC_CARDS else self.behaviour.get(pm, "success")
        if behaviour == "soft_then_success":
            key = intent["customer"] or pm
            self.attempts[key] += 1
            behaviour = (
                "success"
                if self.attempts[key] >= SOFT_THEN_SUCCESS_ATTEMPT
                else "insufficient_funds"
            )
        return behaviour

    def _confirm(self, intent: Obj) -> None:
        behaviour = self._behaviour(intent)
        if behaviour == "requires_action":
            intent["status"] = "requires_action"
            intent["next_action"] = {
                "type": "use_stripe_sdk",
                "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": ""},
            }
            self.emit("payment_intent.requires_action", intent)
            return
        if behaviour == "ach":
            # Bank debits stay processing until settlement (or an ACH return) decides.
            charge = self._new_charge(intent, "pending")
            self.ach_submitted_at[charge["id"]] = self.clock.now()  # the window runs from here
            intent["status"] = "processing"
            self.emit("payment_intent.processing", intent)
            self.emit("charge.pending", charge)
            return
        if behaviour in DECLINE_MESSAGES:
            self._decline(intent, behaviour)
        charge = self._new_charge(intent, "succeeded")
        charge["outcome"] = {"network_status": "approved_by_network", "type": "authorized"}
        if intent["metadata"].get("payment_id"):
            self.stats.successful_charges_per_payment_id[intent["metadata"]["payment_id"]] += 1
        intent["status"] = "requires_capture"
        intent["amount_capturable"] = intent["amount"]
        self.emit("charge.succeeded", charge)
        if intent["capture_method"] == "manual":
            self.emit("payment_intent.amount_capturable_updated", intent)
        else:
            self._capture(intent, intent["amount"])

    def _decline(self, intent: Obj, code: str) -> None:
        charge = self._new_charge(intent, "failed")
        error_code = "processing_error" if code == "processing_error" else "card_declined"
        decline_code = None if code == "processing_error" else DECLINE_CODES.get(code, code)
        charge["failure_code"] = error_code
        charge["failure_message"] = DECLINE_MESSAGES[code]
        charge["outcome"] = {"network_status": "declined_by_network", "type": "issuer_declined"}
        error: Obj = {
            "type": "card_error",
            "code": error_code,
            "message": DECLINE_MESSAGES[code],
            "charge": charge["id"],
        }
        if decline_code:
            error["decline_code"] = decline_code
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = error
        self.emit("charge.failed", charge)
        self.emit("payment_intent.payment_failed", intent)
        raise StripeApiError(
            402,
            "card_error",
            DECLINE_MESSAGES[code],
            code=error_code,
            decline_code=decline_code,
            extra={"charge": charge["id"], "payment_intent": copy.deepcopy(intent)},
        )

    def intent(self, ident: str) -> Obj:
        with self.lock:
            if ident not in self.intents:
                raise missing("payment_intent", ident)
            return copy.deepcopy(self.intents[ident])

    def intent_ref(self, ident: str) -> Obj:
        """The stored intent itself (caller holds the lock)."""
        if ident not in self.intents:
            raise missing("payment_intent", ident, "intent")
        return self.intents[ident]

    def capture(self, ident: str, amount: int | None) -> Obj:
        with self.lock:
            intent = self.intent_ref(ident)
            if intent["status"] != "requires_capture":
                raise invalid(
                    "This PaymentIntent could not be captured because it has a status of "
                    f"{intent['status']}. Only a PaymentIntent with one of the following "
                    "statuses may be captured: requires_capture.",
                    code="payment_intent_unexpected_state",
                )
            amount = intent["amount_capturable"] if amount is None else amount
            if amount < 1 or amount > intent["amount_capturable"]:
                raise invalid(
                    "The amount to capture must be a positive integer no greater than "
                    f"{intent['amount_capturable']}.",
                    code="amount_too_large",
                    param="amount_to_capture",
                )
            self._capture(intent, amount)
            return copy.deepcopy(intent)

    def _capture(self, intent: Obj, amount: int) -> None:
        charge = self.charges[intent["latest_charge"]]
        charge.update(captured=True, amount_captured=amount, paid=True)
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self.captured_at[charge["id"]] = time.time()  # settlement picks it up from here
        self.stats.captured_minor[intent["id"]] += amount
        self.emit("charge.captured", charge)
        self.emit("payment_intent.succeeded", intent)

    def cancel(self, ident: str, reason: str | None) -> Obj:
        with self.lock:
            intent = self.intent_ref(ident)
            if intent["status"] not in (*_OPEN_STATES, "requires_capture"):
                raise invalid(
                    "You cannot cancel this PaymentIntent because it has a status of "
                    f"{intent['status']}.",
                    code="payment_intent_unexpected_state",
                )
            intent.update(
                status="canceled",
                amount_capturable=0,
                cancellation_reason=reason or "requested_by_customer",
                canceled_at=int(time.time()),
                next_action=None,
            )
            self.emit("payment_intent.canceled", intent)
            return copy.deepcopy(intent)

    def charge(self, ident: str) -> Obj:
        with self.lock:
            if ident not in self.charges:
                raise missing("charge", ident)
            return copy.deepcopy(self.charges[ident])
