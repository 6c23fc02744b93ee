"""In-memory Stripe: customers, payment methods, intents, charges, refunds, balance.

Pure state and rules, no HTTP. Every public method runs under one lock and
returns JSON-ready dicts shaped like Stripe's objects; failures raise
StripeApiError carrying Stripe's error fields. State changes queue events in
`outbox`, which the server drains into webhooks.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from paysaga.sandbox import testdata

Obj = dict[str, Any]

# Magic test payment methods -> (brand, last4, behaviour).
MAGIC_CARDS: dict[str, tuple[str, str, str]] = {
    testdata.STRIPE_PM_SUCCESS: ("visa", "4242", "success"),
    testdata.STRIPE_PM_SUCCESS_MASTERCARD: ("mastercard", "4444", "success"),
    testdata.STRIPE_PM_HARD_DECLINE: ("visa", "0002", "generic_decline"),
    testdata.STRIPE_PM_STOLEN: ("visa", "9979", "stolen_card"),
    testdata.STRIPE_PM_SOFT_DECLINE: ("visa", "9995", "insufficient_funds"),
    testdata.STRIPE_PM_PROCESSING_ERROR: ("visa", "0119", "processing_error"),
    testdata.STRIPE_PM_REQUIRES_ACTION: ("visa", "3220", "requires_action"),
    testdata.STRIPE_PM_SOFT_THEN_SUCCESS: ("visa", "9995", "soft_then_success"),
}
SOFT_THEN_SUCCESS_ATTEMPT = 3  # declines before this attempt, succeeds from it on

DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "stolen_card": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
}

# NACHA return codes -> Stripe charge failure codes.
ACH_RETURN_CODES = {
    "R01": "insufficient_funds",
    "R02": "account_closed",
    "R03": "no_account",
    "R04": "invalid_account_number",
    "R08": "debit_not_authorized",
    "R10": "debit_not_authorized",
    "R16": "account_frozen",
    "R29": "debit_not_authorized",
}

_OPEN_STATES = ("requires_payment_method", "requires_confirmation", "requires_action")


class StripeApiError(Exception):
    """An error response: HTTP status plus Stripe's `error` object."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        decline_code: str | None = None,
        param: str | None = None,
        extra: Obj | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error: Obj = {"type": type_, "message": message}
        for key, value in (("code", code), ("decline_code", decline_code), ("param", param)):
            if value is not None:
                self.error[key] = value
        self.error.update(extra or {})

    def body(self) -> Obj:
        return {"error": self.error}


def invalid(message: str, *, code: str | None = None, param: str | None = None) -> StripeApiError:
    return StripeApiError(400, "invalid_request_error", message, code=code, param=param)


def missing(kind: str, ident: str, param: str = "id") -> StripeApiError:
    return StripeApiError(
        404,
        "invalid_request_error",
        f"No such {kind}: '{ident}'",
        code="resource_missing",
        param=param,
    )


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def stripe_fee(amount: int) -> int:
    # 2.9% + 30, integer minor units (rounded half up).
    return (amount * 29 + 500) // 1000 + 30


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
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.customers: dict[str, Obj] = {}
        self.payment_methods: dict[str, Obj] = {}
        self.behaviour: dict[str, str] = {}  # pm id -> magic behaviour
        self.bank_accounts: dict[str, Obj] = {}
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

    # -- helpers ---------------------------------------------------------------

    def _emit(self, type_: str, obj: Obj) -> None:
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

    def expand(self, obj: Obj, paths: list[str]) -> Obj:
        """Replace id fields named by `expand[]` paths with the objects they name."""
        out = copy.deepcopy(obj)
        for path in paths:
            self._expand_path(out, path.split("."))
        return out

    def _expand_path(self, node: Any, parts: list[str]) -> None:
        if not parts or not isinstance(node, dict):
            return
        head, rest = parts[0], parts[1:]
        if head == "data" and isinstance(node.get("data"), list):
            for item in node["data"]:
                self._expand_path(item, rest)
            return
        value = node.get(head)
        if isinstance(value, str) and not rest:
            target = self.find(value)
            if target is not None:
                node[head] = copy.deepcopy(target)
        elif isinstance(value, dict):
            self._expand_path(value, rest)

    # -- customers and payment methods ------------------------------------------

    def create_customer(self, email: str | None, name: str | None, meta: dict[str, str]) -> Obj:
        with self.lock:
            customer: Obj = {
                "id": new_id("cus"),
                "object": "customer",
                "created": int(time.time()),
                "email": email,
                "name": name,
                "metadata": meta,
                "livemode": False,
                "invoice_settings": {"default_payment_method": None},
                "default_source": None,
            }
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
                pm: Obj = {
                    "id": new_id("pm"),
                    "object": "payment_method",
                    "type": "card",
                    "created": int(time.time()),
                    "customer": customer_id,
                    "livemode": False,
                    "metadata": {},
                    "card": {
                        "brand": brand,
                        "last4": last4,
                        "exp_month": 12,
                        "exp_year": 2034,
                        "funding": "credit",
                        "country": "US",
                    },
                }
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
                return {
                    "id": ident,
                    "object": "payment_method",
                    "type": "card",
                    "customer": None,
                    "created": 0,
                    "livemode": False,
                    "metadata": {},
                    "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034},
                }
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
            account: Obj = {
                "id": new_id("ba"),
                "object": "bank_account",
                "account_holder_type": "individual",
                "bank_name": "STRIPE TEST BANK",
                "country": "US",
                "currency": "usd",
                "customer": customer_id,
                "last4": "6789",
                "routing_number": "110000000",
                "status": "verified",
                "metadata": {},
            }
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
            intent: Obj = {
                "id": new_id("pi"),
                "object": "payment_intent",
                "amount": amount,
                "amount_capturable": 0,
                "amount_received": 0,
                "capture_method": capture_method,
                "cancellation_reason": None,
                "canceled_at": None,
                "client_secret": None,
                "created": int(time.time()),
                "currency": currency,
                "customer": customer,
                "description": description,
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "metadata": metadata,
                "next_action": None,
                "payment_method": payment_method,
                "payment_method_types": payment_method_types or ["card"],
                "status": "requires_payment_method"
                if payment_method is None
                else ("requires_confirmation"),
            }
            intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(8)}"
            self.intents[intent["id"]] = intent
            self.stats.payment_intents_created += 1
            if metadata.get("payment_id"):
                self.stats.intents_per_payment_id[metadata["payment_id"]] += 1
            self._emit("payment_intent.created", intent)
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
        charge: Obj = {
            "id": new_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "balance_transaction": None,
            "captured": False,
            "created": int(time.time()),
            "currency": intent["currency"],
            "customer": intent["customer"],
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": dict(intent["metadata"]),
            "outcome": None,
            "paid": status == "succeeded",
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "refunded": False,
            "status": status,
        }
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
            self._emit("payment_intent.requires_action", intent)
            return
        if behaviour == "ach":
            charge = self._new_charge(intent, "pending")
            intent["status"] = "processing"
            self._emit("payment_intent.processing", intent)
            self._emit("charge.pending", charge)
            return
        if behaviour in DECLINE_MESSAGES:
            self._decline(intent, behaviour)
        charge = self._new_charge(intent, "succeeded")
        charge["outcome"] = {"network_status": "approved_by_network", "type": "authorized"}
        if intent["metadata"].get("payment_id"):
            self.stats.successful_charges_per_payment_id[intent["metadata"]["payment_id"]] += 1
        intent["status"] = "requires_capture"
        intent["amount_capturable"] = intent["amount"]
        self._emit("charge.succeeded", charge)
        if intent["capture_method"] == "manual":
            self._emit("payment_intent.amount_capturable_updated", intent)
        else:
            self._capture(intent, intent["amount"])

    def _decline(self, intent: Obj, code: str) -> None:
        charge = self._new_charge(intent, "failed")
        error_code = "processing_error" if code == "processing_error" else "card_declined"
        decline_code = None if code == "processing_error" else code
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
        self._emit("charge.failed", charge)
        self._emit("payment_intent.payment_failed", intent)
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

    def _intent_ref(self, ident: str) -> Obj:
        if ident not in self.intents:
            raise missing("payment_intent", ident, "intent")
        return self.intents[ident]

    def capture(self, ident: str, amount: int | None) -> Obj:
        with self.lock:
            intent = self._intent_ref(ident)
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
        self.captured_at[charge["id"]] = time.time()
        self.stats.captured_minor[intent["id"]] += amount
        self._emit("charge.captured", charge)
        self._emit("payment_intent.succeeded", intent)

    def cancel(self, ident: str, reason: str | None) -> Obj:
        with self.lock:
            intent = self._intent_ref(ident)
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
            self._emit("payment_intent.canceled", intent)
            return copy.deepcopy(intent)

    def search_intents(self, query: str) -> list[Obj]:
        clauses = [c.strip() for c in re.split(r"\s+AND\s+", query.strip()) if c.strip()]
        tests: list[tuple[list[str], str]] = []
        for clause in clauses:
            match = re.fullmatch(r"(metadata\['([^']+)'\]|[a-z_]+):'([^']*)'", clause)
            if not match:
                raise invalid(f"Invalid search query: {query}", param="query")
            path = ["metadata", match.group(2)] if match.group(2) else [match.group(1)]
            tests.append((path, match.group(3)))
        with self.lock:
            found = [
                copy.deepcopy(pi)
                for pi in self.intents.values()
                if all(_dig(pi, path) == value for path, value in tests)
            ]
        return sorted(found, key=lambda pi: pi["created"], reverse=True)

    def list_intents(self, customer: str | None) -> list[Obj]:
        with self.lock:
            return [
                copy.deepcopy(pi)
                for pi in reversed(self.intents.values())
                if customer is None or pi["customer"] == customer
            ]

    def charge(self, ident: str) -> Obj:
        with self.lock:
            if ident not in self.charges:
                raise missing("charge", ident)
            return copy.deepcopy(self.charges[ident])

    # -- refunds ----------------------------------------------------------------

    def create_refund(
        self,
        *,
        payment_intent: str | None,
        charge: str | None,
        amount: int | None,
        meta: dict[str, str],
    ) -> Obj:
        with self.lock:
            if payment_intent:
                intent = self._intent_ref(payment_intent)
                charge = intent["latest_charge"]
                if charge is None:
                    raise invalid(
                        "This PaymentIntent does not have a successful charge to refund.",
                        code="charge_not_refundable",
                        param="payment_intent",
                    )
            if not charge:
                raise invalid(
                    "One of the following params should be provided for this request: "
                    "payment_intent or charge.",
                    code="parameter_missing",
                    param="payment_intent",
                )
            if charge not in self.charges:
                raise missing("charge", charge, "charge")
            ch = self.charges[charge]
            if not (ch["captured"] and ch["status"] == "succeeded"):
                raise invalid(
                    f"Charge {charge} has not been captured and cannot be refunded.",
                    code="charge_not_refundable",
                    param="charge",
                )
            remaining = ch["amount_captured"] - ch["amount_refunded"]
            if remaining <= 0:
                raise invalid(
                    f"Charge {charge} has already been refunded.", code="charge_already_refunded"
                )
            amount = remaining if amount is None else amount
            if amount < 1 or amount > remaining:
                raise invalid(
                    f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                    f"({remaining})",
                    code="amount_too_large",
                    param="amount",
                )
            refund: Obj = {
                "id": new_id("re"),
                "object": "refund",
                "amount": amount,
                "balance_transaction": None,
                "charge": charge,
                "created": int(time.time()),
                "currency": ch["currency"],
                "metadata": meta,
                "payment_intent": ch["payment_intent"],
                "reason": None,
                "status": "succeeded",
            }
            self.refunds[refund["id"]] = refund
            ch["amount_refunded"] += amount
            ch["refunded"] = ch["amount_refunded"] == ch["amount_captured"]
            self.refund_pending[refund["id"]] = time.time()
            self.stats.refunds_created += 1
            self.stats.refunded_minor[ch["payment_intent"]] += amount
            self._emit("refund.created", refund)
            self._emit("charge.refunded", ch)
            return copy.deepcopy(refund)

    def refund(self, ident: str) -> Obj:
        with self.lock:
            if ident not in self.refunds:
                raise missing("refund", ident)
            return copy.deepcopy(self.refunds[ident])

    # -- settlement, balance transactions, sandbox controls -----------------------

    def settle(self, cutoff: float) -> int:
        """Settle captured charges and refunds made at or before `cutoff`."""
        settled = 0
        with self.lock:
            for charge_id, at in list(self.captured_at.items()):
                if at <= cutoff:
                    del self.captured_at[charge_id]
                    self._settle_charge(self.charges[charge_id])
                    settled += 1
            for charge in self.charges.values():
                if charge["status"] == "pending" and charge["created"] <= cutoff:
                    self._settle_ach(charge)
                    settled += 1
            for refund_id, at in list(self.refund_pending.items()):
                if at <= cutoff:
                    del self.refund_pending[refund_id]
                    refund = self.refunds[refund_id]
                    txn = self._balance_txn("refund", -refund["amount"], 0, refund)
                    refund["balance_transaction"] = txn["id"] if txn else None
                    settled += 1
        return settled

    def _settle_charge(self, charge: Obj) -> None:
        amount = charge["amount_captured"]
        txn = self._balance_txn("charge", amount, stripe_fee(amount), charge)
        charge["balance_transaction"] = txn["id"] if txn else None

    def _settle_ach(self, charge: Obj) -> None:
        intent = self.intents[charge["payment_intent"]]
        charge.update(
            status="succeeded", captured=True, paid=True, amount_captured=charge["amount"]
        )
        intent.update(status="succeeded", amount_received=charge["amount"])
        self.stats.captured_minor[intent["id"]] += charge["amount"]
        self._settle_charge(charge)
        self._emit("charge.succeeded", charge)
        self._emit("payment_intent.succeeded", intent)

    def _balance_txn(self, type_: str, amount: int, fee: int, source: Obj) -> Obj | None:
        tamper = self.tampers.pop(source.get("payment_intent") or "", None)
        if tamper is not None and tamper.action == "drop":
            return None
        if tamper is not None:
            amount += tamper.delta_minor if amount >= 0 else -tamper.delta_minor
        now = int(time.time())
        txn: Obj = {
            "id": new_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": now,
            "created": now,
            "currency": source["currency"],
            "description": None,
            "fee": fee,
            "net": amount - fee,
            "reporting_category": type_,
            "source": source["id"],
            "status": "available",
            "type": type_,
        }
        self.balance.append(txn)
        return txn

    def list_balance(self, created: dict[str, int], type_: str | None) -> list[Obj]:
        def keep(txn: Obj) -> bool:
            at = txn["created"]
            return (
                ("gte" not in created or at >= created["gte"])
                and ("gt" not in created or at > created["gt"])
                and ("lt" not in created or at < created["lt"])
                and ("lte" not in created or at <= created["lte"])
                and (type_ is None or txn["type"] == type_)
            )

        with self.lock:
            return [copy.deepcopy(t) for t in reversed(self.balance) if keep(t)]

    def tamper(self, reference: str, action: str, delta_minor: int) -> Obj:
        with self.lock:
            intent_id = (
                self.charges[reference]["payment_intent"]
                if reference in self.charges
                else (reference)
            )
            if intent_id not in self.intents:
                raise missing("payment_intent", reference, "reference")
            if action not in ("drop", "alter_amount"):
                raise invalid(f"Unknown tamper action: {action}", param="action")
            settled = [
                t
                for t in self.balance
                if t["type"] == "charge"
                and self.charges[t["source"]]["payment_intent"] == intent_id
            ]
            if not settled:
                self.tampers[intent_id] = Tamper(action, delta_minor)
                return {"reference": intent_id, "applied": "at_settlement"}
            for txn in settled:
                if action == "drop":
                    self.balance.remove(txn)
                else:
                    txn["amount"] += delta_minor
                    txn["net"] = txn["amount"] - txn["fee"]
            return {"reference": intent_id, "applied": "now"}

    def ach_return(self, reference: str, code: str) -> Obj:
        with self.lock:
            intent = self._intent_ref(reference)
            if code not in ACH_RETURN_CODES:
                raise invalid(f"Unknown ACH return code: {code}", param="code")
            charge = self.charges.get(intent["latest_charge"] or "")
            if intent["status"] != "processing" or charge is None:
                raise invalid(
                    f"PaymentIntent {reference} is {intent['status']}, not processing.",
                    code="payment_intent_unexpected_state",
                )
            failure = ACH_RETURN_CODES[code]
            message = f"The customer's bank returned the debit ({code}: {failure})."
            charge.update(status="failed", failure_code=failure, failure_message=message)
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {
                "type": "invalid_request_error",
                "code": failure,
                "decline_code": code,
                "message": message,
                "charge": charge["id"],
            }
            self._emit("charge.failed", charge)
            self._emit("payment_intent.payment_failed", intent)
            return copy.deepcopy(intent)

    def stats_dict(self) -> Obj:
        with self.lock:
            s = self.stats
            return {
                "payment_intents_created": s.payment_intents_created,
                "charges_created": s.charges_created,
                "refunds_created": s.refunds_created,
                "idempotent_replays": s.idempotent_replays,
                "webhooks_queued": s.webhooks_queued,
                "captured_minor": dict(s.captured_minor),
                "refunded_minor": dict(s.refunded_minor),
                "intents_per_payment_id": dict(s.intents_per_payment_id),
                "successful_charges_per_payment_id": dict(s.successful_charges_per_payment_id),
                "balance_transactions": len(self.balance),
                "by_payment_id": self._by_payment_id(),
            }

    def _by_payment_id(self) -> dict[str, Obj]:
        """Per payment (intent metadata): what the gateway itself holds, for audits."""
        out: dict[str, Obj] = {}
        for intent in self.intents.values():
            payment_id = intent["metadata"].get("payment_id")
            if not payment_id:
                continue
            row = out.setdefault(payment_id, _empty_payment_row())
            captured = self.stats.captured_minor.get(intent["id"], 0)
            row["captured_charges"] += captured > 0
            row["captured_minor"] += captured
            row["refunded_minor"] += self.stats.refunded_minor.get(intent["id"], 0)
            row["open_authorizations"] += intent["status"] == "requires_capture"
        return out


def _empty_payment_row() -> Obj:
    return {
        "captured_charges": 0,
        "captured_minor": 0,
        "refunded_minor": 0,
        "open_authorizations": 0,
    }


def _dig(obj: Obj, path: list[str]) -> Any:
    node: Any = obj
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
