"""In-memory Braintree gateway state: vault, transactions, settlement.

Pure logic over dicts the XML codec reads and writes; the HTTP layer
(`paysaga.sandbox.braintree.server`) adds auth, faults, idempotency and webhooks. Every
public method takes the store's lock, so concurrent handlers see one order.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from paysaga.domain.money import CURRENCY_EXPONENTS, MAX_AMOUNT_MINOR
from paysaga.sandbox import testdata
from paysaga.sandbox.braintree.xml_codec import Array

APPROVED = ("1000", "Approved")
# Processor responses the sandbox can produce (Braintree's published table).
PROCESSOR_TEXT: dict[str, str] = {
    "2000": "Do Not Honor",
    "2001": "Insufficient Funds",
    "2002": "Limit Exceeded",
    "2003": "Cardholder's Activity Limit Exceeded",
    "2004": "Expired Card",
    "2005": "Invalid Credit Card Number",
    "2010": "Card Issuer Declined CVV",
    "2015": "Transaction Not Allowed",
    "2038": "Processor Declined",
    "2044": "Declined - Call Issuer",
    "2046": "Declined",
    "2047": "Call Issuer. Pick Up Card",
    "3000": "Processor Network Unavailable - Try Again",
}
SOFT_PROCESSOR_CODES = frozenset({"2001", "2002", "2003", "2038", "2046", "3000"})
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
SETTLING_STATES = ("submitted_for_settlement", "settling", "settlement_pending")


@dataclass(frozen=True)
class Outcome:
    """What a payment method does when charged."""

    status: str  # authorized | processor_declined | gateway_rejected | failed
    code: str = APPROVED[0]
    rejection_reason: str | None = None
    then_success_after: int = 0  # decline until the Nth attempt, then approve


NONCE_OUTCOMES: dict[str, Outcome] = {
    testdata.BRAINTREE_NONCE_HARD_DECLINE: Outcome("processor_declined", "2000"),
    "fake-processor-declined-mastercard-nonce": Outcome("processor_declined", "2000"),
    "fake-processor-declined-amex-nonce": Outcome("processor_declined", "2000"),
    testdata.BRAINTREE_NONCE_SOFT_DECLINE: Outcome("processor_declined", "2001"),
    testdata.BRAINTREE_NONCE_PROCESSOR_FAILURE: Outcome("failed", "3000"),
    testdata.BRAINTREE_NONCE_REQUIRES_ACTION: Outcome(
        "gateway_rejected", rejection_reason="three_d_secure"
    ),
    "fake-gateway-rejected-fraud-nonce": Outcome("gateway_rejected", rejection_reason="fraud"),
    testdata.BRAINTREE_NONCE_SOFT_THEN_SUCCESS: Outcome(
        "processor_declined", "2001", then_success_after=3
    ),
}


class ApiError(Exception):
    """A 422 `<api-error-response>`: validation errors, or a declined transaction."""

    def __init__(
        self,
        message: str,
        *,
        scope: tuple[str, ...] = (),
        attribute: str = "base",
        code: str = "",
        transaction: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.scope = scope
        self.attribute = attribute
        self.code = code
        self.transaction = transaction
        self.params = params or {}

    def body(self) -> dict[str, Any]:
        errors: dict[str, Any] = {"errors": Array("error", [])}
        if self.code:
            node = errors
            for key in self.scope:
                node = node.setdefault(key, {"errors": Array("error", [])})
            entry = {"code": self.code, "attribute": self.attribute, "message": self.message}
            node["errors"] = Array("error", [entry])
        result: dict[str, Any] = {"errors": errors, "params": self.params, "message": self.message}
        if self.transaction is not None:
            result["transaction"] = self.transaction
        return result


class NotFound(Exception):
    """A 404: the SDK raises NotFoundError."""


@dataclass
class Card:
    token: str | None
    customer_id: str | None
    bin: str
    last_4: str
    card_type: str
    nonce: str  # what it was vaulted from: decides its charge outcome
    created_at: datetime


@dataclass
class Txn:
    id: str
    type: str  # sale | credit
    status: str
    amount_minor: int
    currency: str
    merchant_account_id: str
    order_id: str | None
    card: Card
    created_at: datetime
    updated_at: datetime
    processor_code: str
    rejection_reason: str | None = None
    history: list[tuple[str, int, datetime]] = field(default_factory=list)
    refund_ids: list[str] = field(default_factory=list)
    refunded_transaction_id: str | None = None
    settlement_batch_id: str | None = None
    times: dict[str, datetime] = field(default_factory=dict)  # status -> when
    disbursement_date: date | None = None
    dropped: bool = False  # tampered: hidden from the settlement listing


def now() -> datetime:
    # Braintree timestamps have whole seconds; searches compare at that grain.
    return datetime.now(UTC).replace(microsecond=0)


def new_id() -> str:
    return secrets.token_hex(4)


def card_for(nonce: str, token: str | None, customer_id: str | None) -> Card:
    brand = "visa"
    for name in ("mastercard", "amex", "discover"):
        if name in nonce:
            brand = name
    bin_, last4 = {
        "visa": ("411111", "1111"),
        "mastercard": ("555555", "4444"),
        "amex": ("378282", "0005"),
        "discover": ("601111", "1117"),
    }[brand]
    card_type = {"visa": "Visa", "mastercard": "MasterCard", "amex": "American Express"}
    return Card(token, customer_id, bin_, last4, card_type.get(brand, "Discover"), nonce, now())


def known_nonce(nonce: str) -> bool:
    return (
        nonce in NONCE_OUTCOMES
        or nonce.startswith("fake-valid-")
        or nonce in (testdata.BRAINTREE_NONCE_SUCCESS,)
    )


def parse_amount(raw: object, currency: str, scope: tuple[str, ...]) -> int:
    """Decimal string -> minor units, exactly; the gateway's validation errors otherwise."""
    if raw is None or raw == "":
        raise ApiError("Amount is required.", scope=scope, attribute="amount", code="81502")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ApiError(
            "Amount is an invalid format.", scope=scope, attribute="amount", code="81503"
        )
    if value < 0:
        raise ApiError("Amount cannot be negative.", scope=scope, attribute="amount", code="81501")
    minor = value.scaleb(CURRENCY_EXPONENTS[currency])
    if minor != minor.to_integral_value():
        raise ApiError(
            "Amount is an invalid format.", scope=scope, attribute="amount", code="81503"
        )
    if minor == 0:
        raise ApiError(
            "Amount must be greater than zero.", scope=scope, attribute="amount", code="81531"
        )
    if minor > MAX_AMOUNT_MINOR:
        raise ApiError("Amount is too large.", scope=scope, attribute="amount", code="81528")
    return int(minor)


def format_amount(minor: int, currency: str) -> str:
    return str(Decimal(minor).scaleb(-CURRENCY_EXPONENTS[currency]))


class BraintreeStore:
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
            return self.render_card(card)

    def find_payment_method(self, token: str) -> dict[str, Any]:
        with self._lock:
            card = self.cards.get(token)
            if card is None:
                raise NotFound(token)
            return self.render_card(card)

    def find_customer(self, customer_id: str) -> dict[str, Any]:
        with self._lock:
            if customer_id not in self.customers:
                raise NotFound(customer_id)
            return self.render_customer(customer_id)

    def render_customer(self, customer_id: str) -> dict[str, Any]:
        record = self.customers[customer_id]
        cards = [self.render_card(self.cards[token]) for token in record["tokens"]]
        return {
            "id": record["id"],
            "email": record["email"],
            "first_name": record["first_name"],
            "last_name": record["last_name"],
            "created_at": record["created_at"],
            "updated_at": record["updated_at"],
            "credit_cards": Array("credit_card", cards),
            "addresses": Array("address", []),
        }

    @staticmethod
    def render_card(card: Card) -> dict[str, Any]:
        return {
            "token": card.token,
            "customer_id": card.customer_id,
            "bin": card.bin,
            "last_4": card.last_4,
            "card_type": card.card_type,
            "expiration_month": "12",
            "expiration_year": str(card.created_at.year + 3),
            "expired": False,
            "default": True,
            "created_at": card.created_at,
            "updated_at": card.created_at,
        }

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
            outcome = self._outcome(card, amount, currency, params)
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
            )
            self._move(txn, outcome.status, amount)
            self.transactions[txn.id] = txn
            if outcome.status != "authorized":
                self.stats["declines"] += 1
                raise ApiError(
                    self._response_text(txn),
                    transaction=self.render(txn),
                    params={"transaction": {"type": txn.type, "amount": params.get("amount")}},
                )
            self.stats["charges_created"] += 1
            self.stats["charges_by_order_id"][txn.order_id or ""] += 1
            if settle_now:
                self._submit(txn, amount)
            return self.render(txn)

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

    def _outcome(self, card: Card, amount: int, currency: str, params: dict[str, Any]) -> Outcome:
        outcome = NONCE_OUTCOMES.get(card.nonce, Outcome("authorized"))
        if outcome.then_success_after:
            key = card.customer_id or str(params.get("order_id") or card.nonce)
            self._attempts[key] += 1
            if self._attempts[key] >= outcome.then_success_after:
                return Outcome("authorized")
        if outcome.status == "authorized":
            # Braintree's test amounts: 2000.00-2999.99 decline with that code,
            # 3000.00-3000.99 fail at the processor.
            units = amount // 10 ** CURRENCY_EXPONENTS[currency]
            if 2000 <= units <= 2999:
                return Outcome("processor_declined", str(units))
            if units == 3000:
                return Outcome("failed", "3000")
        return outcome

    def _move(self, txn: Txn, status: str, amount: int) -> None:
        stamp = now()
        txn.status = status
        txn.updated_at = stamp
        txn.times[status] = stamp
        txn.history.append((status, amount, stamp))

    def _submit(self, txn: Txn, amount: int) -> None:
        txn.amount_minor = amount  # a partial settlement lowers the amount, as Braintree does
        self._move(txn, "submitted_for_settlement", amount)
        self.stats["captures"] += 1
        self.stats["captured_minor"][txn.id] += amount

    def _get(self, transaction_id: str) -> Txn:
        txn = self.transactions.get(transaction_id)
        if txn is None:
            raise NotFound(transaction_id)
        return txn

    def find(self, transaction_id: str) -> dict[str, Any]:
        with self._lock:
            return self.render(self._get(transaction_id))

    def submit_for_settlement(self, transaction_id: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            txn = self._get(transaction_id)
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
            return self.render(txn)

    def void(self, transaction_id: str) -> dict[str, Any]:
        with self._lock:
            txn = self._get(transaction_id)
            if txn.status not in ("authorized", "submitted_for_settlement"):
                raise ApiError(
                    "Transaction can only be voided if status is authorized, "
                    "submitted_for_settlement, or - for PayPal - settlement_pending.",
                    scope=("transaction",),
                    code="91504",
                )
            if txn.status == "submitted_for_settlement":
                self.stats["captured_minor"][txn.id] -= txn.amount_minor
            self._move(txn, "voided", txn.amount_minor)
            self.stats["voids"] += 1
            return self.render(txn)

    def refund(self, transaction_id: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            sale = self._get(transaction_id)
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
            refunded = sum(self.transactions[rid].amount_minor for rid in sale.refund_ids)
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
            )
            self._move(credit, "submitted_for_settlement", amount)
            self.transactions[credit.id] = credit
            sale.refund_ids.append(credit.id)
            sale.updated_at = stamp
            self.stats["refunds"] += 1
            self.stats["refunded_minor"][sale.id] += amount
            return self.render(credit)

    # -- settlement ---------------------------------------------------------

    def settle(self, before: datetime | None = None) -> list[Txn]:
        """Settle everything submitted before `before` (all when None)."""
        with self._lock:
            done = []
            for txn in self.transactions.values():
                submitted = txn.times.get("submitted_for_settlement")
                if (
                    txn.status in SETTLING_STATES
                    and submitted is not None
                    and (before is None or submitted <= before)
                ):
                    self._settle_one(txn)
                    done.append(txn)
            return done

    def _settle_one(self, txn: Txn) -> None:
        self._move(txn, "settled", txn.amount_minor)
        settled = txn.times["settled"]
        txn.settlement_batch_id = f"{settled.date().isoformat()}_{txn.merchant_account_id}"
        txn.disbursement_date = settled.date()
        self.stats["settled"] += 1

    def testing_transition(self, transaction_id: str, action: str) -> Txn:
        """The SDK's TestingGateway: settle / settlement_confirm / _decline / _pending."""
        with self._lock:
            txn = self._get(transaction_id)
            if txn.status not in SETTLING_STATES:
                raise ApiError(
                    "Cannot simulate transaction settlement.",
                    scope=("transaction",),
                    code="91575",
                )
            if action in ("settle", "settlement_confirm"):
                self._settle_one(txn)
            elif action == "settlement_decline":
                self._move(txn, "settlement_declined", txn.amount_minor)
                self.stats["captured_minor"][txn.id] -= txn.amount_minor
            else:
                self._move(txn, "settlement_pending", txn.amount_minor)
            return txn

    def tamper(self, reference: str, action: str, delta_minor: int) -> dict[str, Any]:
        with self._lock:
            txn = self.transactions.get(reference) or next(
                (t for t in self.transactions.values() if t.order_id == reference), None
            )
            if txn is None:
                raise NotFound(reference)
            if action == "drop":
                txn.dropped = True
            elif action == "alter_amount":
                txn.amount_minor += delta_minor
            else:
                raise ValueError(f"unknown tamper action {action!r}")
            return {"id": txn.id, "action": action, "amount_minor": txn.amount_minor}

    # -- search ---------------------------------------------------------------

    def search_ids(self, criteria: dict[str, Any]) -> list[str]:
        with self._lock:
            return [t.id for t in self.transactions.values() if self._matches(t, criteria)]

    def fetch(self, criteria: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            ids = criteria.get("ids") or []
            found = [self.transactions[i] for i in ids if i in self.transactions]
            return [self.render(t) for t in found if self._matches(t, criteria)]

    def _matches(self, txn: Txn, criteria: dict[str, Any]) -> bool:
        for name, condition in criteria.items():
            if name == "ids":
                if txn.id not in (condition or []):
                    return False
            elif name in ("id", "order_id", "customer_id", "payment_method_token"):
                value = {
                    "id": txn.id,
                    "order_id": txn.order_id,
                    "customer_id": txn.card.customer_id,
                    "payment_method_token": txn.card.token,
                }[name]
                if not _text_matches(value, condition):
                    return False
            elif name in ("status", "type", "merchant_account_id"):
                value = {
                    "status": txn.status,
                    "type": txn.type,
                    "merchant_account_id": txn.merchant_account_id,
                }[name]
                if value not in (condition or []):
                    return False
            elif name.endswith("_at"):
                status = {
                    "created_at": "_created",
                    "settled_at": "settled",
                    "submitted_for_settlement_at": "submitted_for_settlement",
                    "voided_at": "voided",
                    "authorized_at": "authorized",
                }.get(name)
                if status is None:
                    raise ApiError(f"Unsupported search field {name}.", code="91799")
                when = txn.created_at if status == "_created" else txn.times.get(status)
                if name == "settled_at" and txn.dropped:
                    return False
                if when is None or not _in_range(when, condition):
                    return False
            else:
                raise ApiError(f"Unsupported search field {name}.", attribute=name, code="91799")
        return True

    # -- rendering -------------------------------------------------------------

    def _response_text(self, txn: Txn) -> str:
        if txn.status == "gateway_rejected":
            return "Gateway Rejected: " + (txn.rejection_reason or "unknown")
        if txn.processor_code == APPROVED[0]:
            return APPROVED[1]
        return PROCESSOR_TEXT.get(txn.processor_code, "Processor Declined")

    def render(self, txn: Txn) -> dict[str, Any]:
        amount = format_amount(txn.amount_minor, txn.currency)
        code = txn.processor_code
        if code == APPROVED[0]:
            response_type = "approved"
        else:
            response_type = "soft_declined" if code in SOFT_PROCESSOR_CODES else "hard_declined"
        customer = self.customers.get(txn.card.customer_id or "")
        disbursement: dict[str, Any] = {"disbursement_date": None}
        if txn.disbursement_date is not None:
            disbursement = {
                "settlement_amount": amount,
                "settlement_currency_iso_code": txn.currency,
                "settlement_currency_exchange_rate": "1",
                "funds_held": False,
                "success": True,
                "disbursement_date": txn.disbursement_date,
            }
        history = [
            {
                "timestamp": stamp,
                "status": status,
                "amount": format_amount(value, txn.currency),
                "user": self.merchant_id,
                "transaction_source": "api",
            }
            for status, value, stamp in txn.history
        ]
        return {
            "id": txn.id,
            "status": txn.status,
            "type": txn.type,
            "currency_iso_code": txn.currency,
            "amount": amount,
            "merchant_account_id": txn.merchant_account_id,
            "order_id": txn.order_id,
            "created_at": txn.created_at,
            "updated_at": txn.updated_at,
            "processor_response_code": None if txn.status == "gateway_rejected" else code,
            "processor_response_text": self._response_text(txn),
            "processor_response_type": response_type,
            "gateway_rejection_reason": txn.rejection_reason,
            "refund_ids": list(txn.refund_ids),
            "refunded_transaction_id": txn.refunded_transaction_id,
            "settlement_batch_id": txn.settlement_batch_id,
            "payment_instrument_type": "credit_card",
            "customer": {
                "id": txn.card.customer_id,
                "email": customer["email"] if customer else None,
            },
            "credit_card": self.render_card(txn.card),
            "status_history": Array("status_event", history),
            "disbursement_details": disbursement,
            "add_ons": Array("add_on", []),
            "discounts": Array("discount", []),
        }


def _text_matches(value: str | None, condition: object) -> bool:
    if not isinstance(condition, dict):
        return value == condition
    text = value or ""
    for op, expected in condition.items():
        ok = {
            "is": text == expected,
            "is_not": text != expected,
            "starts_with": text.startswith(str(expected)),
            "ends_with": text.endswith(str(expected)),
            "contains": str(expected) in text,
        }.get(op)
        if not ok:
            return False
    return True


def _in_range(when: datetime, condition: object) -> bool:
    if not isinstance(condition, dict):
        return False
    low, high, exact = condition.get("min"), condition.get("max"), condition.get("is")
    if isinstance(exact, datetime) and when != exact:
        return False
    if isinstance(low, datetime) and when < low:
        return False
    return not (isinstance(high, datetime) and when > high)
