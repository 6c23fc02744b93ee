"""In-memory Braintree gateway: the vault and the transaction state machine.

Pure logic over the objects in `model`, returning dicts the XML codec writes
(shaped in `render`); the HTTP layer (`paysaga.sandbox.braintree.server`) adds auth,
faults, idempotency and webhooks. Settlement and search work on this store from
their own modules. Every public method takes the store's lock, so concurrent
handlers see one order.

The store is pickled across restarts (`persistence`): keep attribute names.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from typing import Any

from paysaga.domain.money import CURRENCY_EXPONENTS
from paysaga.sandbox.braintree import render
from paysaga.sandbox.braintree.amounts import parse_amount
from paysaga.sandbox.braintree.cards import APPROVED, card_for, known_nonce, outcome_for
from paysaga.sandbox.braintree.errors import ApiError, NotFound
from paysaga.sandbox.braintree.model import Card, Txn, new_id, now

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,36}$")


class BraintreeStore:
    # Credit id -> when it is declined (the refund_pending_then_failed fault).
    failing_refunds: dict[str, float]

    def __init__(self, merchant_id: str) -> None:
        self.merchant_id = merchant_id
        self._lock = threading.RLock()
        self.transactions: dict[str, Txn] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.cards: dict[str, Card] = {}
        self._attempts: Counter[str] = Counter()
        self.stats: dict[str, Any] = {
            "charges_created": 0,
            "declines": 0,
            "captures": 0,
            "voids": 0,
            "refunds": 0,
            "settled": 0,
            "customers_created": 0,
            "charges_by_order_id": defaultdict(int),
            "captured_minor": defaultdict(int),  # per transaction id
            "refunded_minor": defaultdict(int),  # per sale transaction id
        }
        self.failing_refunds = {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("failing_refunds", {})  # state files from before it

    @property
    def lock(self) -> threading.RLock:
        # For settlement, search and stats; `_lock` is the name state files have.
        return self._lock

    # -- merchant accounts ---------------------------------------------------

    def default_merchant_account(self) -> str:
        return f"{self.merchant_id}_usd"

    def currency_of(self, merchant_account_id: str) -> str:
        prefix, _, suffix = merchant_account_id.rpartition("_")
        currency = suffix.upper()
        if prefix != self.merchant_id or currency not in CURRENCY_EXPONENTS:
            raise ApiError(
                "Merchant account ID is invalid.",
                scope=("transaction",),
                attribute="merchant_account_id",
                code="91513",
            )
        return currency

    # -- vault ------------------------------------------------------------

    def create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            customer_id = params.get("id") or new_id()
            if not isinstance(customer_id, str) or not ID_PATTERN.match(customer_id):
                raise ApiError(
                    "Customer ID is invalid.", scope=("customer",), attribute="id", code="91610"
                )
            if customer_id in self.customers:
                raise ApiError(
                    "Customer ID has already been taken.",
                    scope=("customer",),
                    attribute="id",
                    code="91609",
                )
            card_params = params.get("credit_card") or {}
            if not isinstance(card_params, dict):
                card_params = {}
            nonce = params.get("payment_method_nonce") or card_params.get("payment_method_nonce")
            token = card_params.get("token")
            card = None
            if nonce is not None:
                card = self._vault_card(str(nonce), token, customer_id)
            stamp = now()
            self.customers[customer_id] = {
                "id": customer_id,
                "email": params.get("email"),
                "first_name": params.get("first_name"),
                "last_name": params.get("last_name"),
                "created_at": stamp,
                "updated_at": stamp,
                "tokens": [card.token] if card else [],
            }
            self.stats["customers_created"] += 1
            return self.render_customer(customer_id)

    def _vault_card(self, nonce: str, token: object, customer_id: str) -> Card:
        if not known_nonce(nonce):
            raise ApiError(
                "Unknown or expired payment_method_nonce.",
                scope=("customer",),
                attribute="payment_method_nonce",
                code="91732",
            )
        if token is None:
            token = new_id()
        if not isinstance(token, str) or not ID_PATTERN.match(token):
            raise ApiError(
                "Token is invalid.",
                scope=("customer", "credit_card"),
                attribute="token",
                code="91718",
            )
        if token in self.cards:
            raise ApiError(
                "Token is in use.",
                scope=("customer", "credit_card"),
                attribute="token",
                code="91719",
            )
        card = card_for(nonce, token, customer_id)
        self.cards[token] = card
        return card

    def create_payment_method(self, params: dict[str, Any]) -> dict[str, Any]:
        """Vault another card for an existing customer (`/payment_methods`)."""
        with self._lock:
            customer_id = params.get("customer_id")
            if not isinstance(customer_id, str) or customer_id not in self.customers:
                raise ApiError(
                    "Customer ID is invalid.",
                    scope=("payment_method",),
                    attribute="customer_id",
                    code="93105",
                )
            nonce = params.get("payment_method_nonce")
            if nonce is None:
                raise ApiError(
                    "Nonce is required.",
                    scope=("payment_method",),
                    attribute="payment_method_nonce",
                    code="93102",
                )
            card = self._vault_card(str(nonce), params.get("token"), customer_id)
            self.customers[customer_id]["tokens"].append(card.token)
            return render.card(card)

    def find_payment_method(self, token: str) -> dict[str, Any]:
        with self._lock:
            card = self.cards.get(token)
            if card is None:
                raise NotFound(token)
            return render.card(card)

    def find_customer(self, customer_id: str) -> dict[str, Any]:
        with self._lock:
            if customer_id not in self.customers:
                raise NotFound(customer_id)
            return self.render_customer(customer_id)

    # -- wire shapes of what the store holds (caller holds the lock) ----------

    def render_txn(self, txn: Txn) -> dict[str, Any]:
        return render.transaction(txn, self.merchant_id, self.customers)

    def render_customer(self, customer_id: str) -> dict[str, Any]:
        return render.customer(self.customers[customer_id], self.cards)

    # -- transactions -------------------------------------------------------

    def sale(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            scope = ("transaction",)
            if params.get("type") not in ("sale", "credit"):
                raise ApiError("Type is invalid.", scope=scope, attribute="type", code="91523")
            account = params.get("merchant_account_id") or self.default_merchant_account()
            currency = self.currency_of(str(account))
            amount = parse_amount(params.get("amount"), currency, scope)
            order_id = params.get("order_id")
            if order_id is not None and len(str(order_id)) > 255:
                raise ApiError(
                    "Order ID is too long.", scope=scope, attribute="order_id", code="91501"
                )
            card = self._payment_method(params)
            outcome = outcome_for(card, amount, currency, params, self._attempts)
            options = params.get("options") or {}
            settle_now = isinstance(options, dict) and options.get("submit_for_settlement") is True
            stamp = now()
            txn = Txn(
                id=new_id(),
                type=str(params["type"]),
                status=outcome.status,
                amount_minor=amount,
                currency=currency,
                merchant_account_id=str(account),
                order_id=None if order_id is None else str(order_id),
                card=card,
                created_at=stamp,
                updated_at=stamp,
                processor_code=outcome.code,
                rejection_reason=outcome.rejection_reason,
                created_ts=time.time(),
            )
            txn.move(outcome.status, amount)
            self.transactions[txn.id] = txn
            if outcome.status != "authorized":
                self.stats["declines"] += 1
                raise ApiError(
                    render.response_text(txn),
                    transaction=self.render_txn(txn),
                    params={"transaction": {"type": txn.type, "amount": params.get("amount")}},
                )
            self.stats["charges_created"] += 1
            self.stats["charges_by_order_id"][txn.order_id or ""] += 1
            if settle_now:
                self._submit(txn, amount)
            return self.render_txn(txn)

    def _payment_method(self, params: dict[str, Any]) -> Card:
        token = params.get("payment_method_token")
        nonce = params.get("payment_method_nonce")
        customer_id = params.get("customer_id")
        if customer_id is not None and customer_id not in self.customers:
            raise ApiError(
                "Customer ID is invalid.",
                scope=("transaction",),
                attribute="customer_id",
                code="91510",
            )
        if token is not None:
            card = self.cards.get(str(token))
            if card is None:
                raise ApiError(
                    "Payment method token is invalid.",
                    scope=("transaction",),
                    attribute="payment_method_token",
                    code="91518",
                )
            return card
        if nonce is None:
            raise ApiError(
                "Cannot determine payment method.",
                scope=("transaction",),
                attribute="base",
                code="91508",
            )
        if not known_nonce(str(nonce)):
            raise ApiError(
                "Unknown or expired payment_method_nonce.",
                scope=("transaction",),
                attribute="payment_method_nonce",
                code="91565",
            )
        return card_for(str(nonce), None, None if customer_id is None else str(customer_id))

    def _submit(self, txn: Txn, amount: int) -> None:
        txn.amount_minor = amount  # a partial settlement lowers the amount, as Braintree does
        txn.move("submitted_for_settlement", amount)
        self.stats["captures"] += 1
        self.stats["captured_minor"][txn.id] += amount

    def get(self, transaction_id: str) -> Txn:
        """The stored transaction itself (caller holds the lock)."""
        txn = self.transactions.get(transaction_id)
        if txn is None:
            raise NotFound(transaction_id)
        return txn

    def find(self, transaction_id: str) -> dict[str, Any]:
        with self._lock:
            return self.render_txn(self.get(transaction_id))

    def submit_for_settlement(self, transaction_id: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            txn = self.get(transaction_id)
            scope = ("transaction",)
            if txn.status != "authorized":
                raise ApiError(
                    "Cannot submit for settlement unless status is authorized.",
                    scope=scope,
                    code="91507",
                )
            raw = params.get("amount")
            amount = (
                txn.amount_minor if raw in (None, "") else parse_amount(raw, txn.currency, scope)
            )
            if amount > txn.amount_minor:
                raise ApiError(
                    "Settlement amount is too large.",
                    scope=scope,
                    attribute="amount",
                    code="91522",
                )
            self._submit(txn, amount)
            return self.render_txn(txn)

    def void(self, transaction_id: str) -> dict[str, Any]:
        with self._lock:
            txn = self.get(transaction_id)
            if txn.status not in ("authorized", "submitted_for_settlement"):
                raise ApiError(
                    "Transaction can only be voided if status is authorized, "
                    "submitted_for_settlement, or - for PayPal - settlement_pending.",
                    scope=("transaction",),
                    code="91504",
                )
            if txn.status == "submitted_for_settlement":
                self.stats["captured_minor"][txn.id] -= txn.amount_minor
            txn.move("voided", txn.amount_minor)
            self.stats["voids"] += 1
            return self.render_txn(txn)

    def refund(self, transaction_id: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            sale = self.get(transaction_id)
            scope = ("transaction",)
            if sale.type == "credit":
                raise ApiError("Cannot refund a credit.", scope=scope, code="91505")
            if sale.status in ("settling", "settlement_pending"):
                raise ApiError(
                    "Cannot refund transaction with settlement_pending or settling status.",
                    scope=scope,
                    code="91574",
                )
            if sale.status != "settled":
                raise ApiError(
                    "Cannot refund a transaction unless it is settled.", scope=scope, code="91506"
                )
            refunded = sum(
                self.transactions[rid].amount_minor
                for rid in sale.refund_ids
                if self.transactions[rid].status != "settlement_declined"  # money came back
            )
            left = sale.amount_minor - refunded
            if left <= 0:
                raise ApiError(
                    "Transaction has already been fully refunded.", scope=scope, code="91512"
                )
            raw = params.get("amount")
            amount = left if raw in (None, "") else parse_amount(raw, sale.currency, scope)
            if amount > left:
                raise ApiError(
                    "Refund amount is too large.", scope=scope, attribute="amount", code="91521"
                )
            order_id = params.get("order_id")
            stamp = now()
            credit = Txn(
                id=new_id(),
                type="credit",
                status="submitted_for_settlement",
                amount_minor=amount,
                currency=sale.currency,
                merchant_account_id=sale.merchant_account_id,
                order_id=sale.order_id if order_id is None else str(order_id),
                card=sale.card,
                created_at=stamp,
                updated_at=stamp,
                processor_code=APPROVED[0],
                refunded_transaction_id=sale.id,
                created_ts=time.time(),
            )
            credit.move("submitted_for_settlement", amount)
            self.transactions[credit.id] = credit
            sale.refund_ids.append(credit.id)
            sale.updated_at = stamp
            self.stats["refunds"] += 1
            self.stats["refunded_minor"][sale.id] += amount
            return self.render_txn(credit)
