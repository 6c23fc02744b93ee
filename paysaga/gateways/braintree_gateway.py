"""Braintree adapter over the official `braintree` SDK (XML over HTTP).

Idempotency. Braintree's API has no idempotency key, so retries are made safe
the way careful integrations do it:
- every sale carries `order_id` = our payment id, and `authorize` first looks
  for a successful sale with that order id (transaction search) before creating
  one. This read-before-write is safe because one workflow owns a payment and
  runs its steps one at a time, so nothing else creates a sale for that payment
  between the read and the write; it relies on the search showing a sale as soon
  as it exists.
- capture (submit_for_settlement) and cancel (void) are idempotent by state: the
  "wrong status" error of a repeat is answered by reading the transaction.
- a refund carries `order_id` = our refund idempotency key and is looked up by
  it before refunding again; a full refund before settlement is a void instead.
- vaulting uses customer and token ids derived from our key, so a repeat collides.
With `send_idempotency_header` (the default) mutating requests also carry the key in
`X-Idempotency-Key` (braintree_http). Braintree defines no such header, so against
the real gateway it adds nothing and the measures above are all there is; only our
local sandbox honours it, replaying its stored answer for a repeated key.

SDK retries: the braintree SDK never retries on its own. Its failures are
classified in braintree_errors; a connect timeout apart from the read timeout
keeps "never reached the gateway" (Unavailable) and "sent, no answer"
(OutcomeUnknown for a write) apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import braintree
import structlog

from paysaga.config.settings import Settings
from paysaga.domain.money import minor_to_decimal, validate_amount, validate_currency
from paysaga.domain.settlement_fees import FeeSchedule
from paysaga.gateways import braintree_records as records
from paysaga.gateways.braintree_errors import GATEWAY, error_codes, result_error, sdk_error
from paysaga.gateways.braintree_http import (
    SplitTimeoutHttp,
    environment,
    http_strategy,
    sending_key,
)
from paysaga.gateways.errors import GatewayError, IdempotencyMismatch, InvalidRequest, Unavailable
from paysaga.gateways.types import (
    AuthorizeRequest,
    GatewayPayment,
    GatewayPaymentState,
    RefundResult,
    SettledTransaction,
    VaultedCustomer,
)

log = structlog.get_logger()
T = TypeVar("T")

# Payment-method tokens we vault carry this prefix; anything else is a nonce.
VAULT_TOKEN_PREFIX = "vtok_"  # noqa: S105 - a prefix, not a secret


def _derived_id(prefix: str, idempotency_key: str) -> str:
    # Braintree ids allow [A-Za-z0-9_-]{1,36}; our keys contain ':' and may be long.
    return prefix + hashlib.sha256(idempotency_key.encode()).hexdigest()[: 36 - len(prefix)]


class BraintreeGateway:
    """`CardGateway` on Braintree. Thread-safe; one instance per configuration."""

    name = GATEWAY
    replays_idempotency_keys = False  # Braintree's API has no idempotency key

    def __init__(
        self,
        *,
        merchant_id: str,
        public_key: str,
        private_key: str,
        base_url: str,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        merchant_accounts: Mapping[str, str] | None = None,
        fees: FeeSchedule | None = None,
        send_idempotency_header: bool = True,
    ) -> None:
        self._merchant_id = merchant_id
        self._accounts = dict(merchant_accounts or {})
        self._fees = fees or FeeSchedule()
        self._send_key = send_idempotency_header
        config = braintree.Configuration(
            environment=environment(base_url),
            merchant_id=merchant_id,
            public_key=public_key,
            private_key=private_key,
            timeout=timeout_s,
            wrap_http_exceptions=True,
            http_strategy=http_strategy(connect_timeout_s),
        )
        self._http: SplitTimeoutHttp = config.http_strategy()
        self._gw = braintree.BraintreeGateway(config)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> BraintreeGateway:
        return cls(
            merchant_id=settings.braintree_merchant_id,
            public_key=settings.braintree_public_key,
            private_key=settings.braintree_private_key.get_secret_value(),
            base_url=settings.braintree_base(),
            **overrides,
        )

    def close(self) -> None:
        self._http.close()

    # -- CardGateway ---------------------------------------------------------------

    def client_token(self, customer_ref: str | None = None) -> str:
        """A client token for the drop-in UI (tokenizes cards into nonces)."""
        params = {"customer_id": customer_ref} if customer_ref else {}
        token: str = self._call(lambda: self._gw.client_token.generate(params), mutating=False)
        return token

    def vault_customer(
        self, idempotency_key: str, *, email: str, name: str, payment_method: str
    ) -> VaultedCustomer:
        # Ids derived from our key make a repeat collide instead of duplicating.
        customer_id = _derived_id("c_", idempotency_key)
        token = _derived_id(VAULT_TOKEN_PREFIX, idempotency_key)
        first, _, last = name.partition(" ")
        params = {
            "id": customer_id,
            "email": email,
            "first_name": first,
            "last_name": last,
            "credit_card": {"payment_method_nonce": payment_method, "token": token},
        }
        result = self._call(
            lambda: self._gw.customer.create(params), key=idempotency_key, mutating=True
        )
        if not result.is_success:
            if "91609" not in error_codes(result):
                raise result_error(result)
            # Customer ID taken: our earlier attempt got through.
            customer = self._call(lambda: self._gw.customer.find(customer_id), mutating=False)
            tokens = [pm.token for pm in customer.payment_methods]
            if token not in tokens:
                raise IdempotencyMismatch(
                    "customer exists without the payment method of this key", gateway=GATEWAY
                )
            return VaultedCustomer(GATEWAY, customer_id, token)
        methods = result.customer.payment_methods
        return VaultedCustomer(GATEWAY, result.customer.id, methods[0].token if methods else token)

    def authorize(self, request: AuthorizeRequest) -> GatewayPayment:
        currency = self._currency(request.currency)
        validate_amount(request.amount_minor)
        existing = self._find_sale(request.payment_id, successful_only=True)
        if existing is not None:
            if (existing.amount_minor, existing.currency) != (request.amount_minor, currency):
                raise IdempotencyMismatch(
                    f"payment {request.payment_id} was already charged a different amount",
                    gateway=GATEWAY,
                )
            log.info("braintree_authorize_found_existing", reference=existing.reference)
            return existing
        params: dict[str, Any] = {
            "amount": minor_to_decimal(request.amount_minor, currency),
            "order_id": request.payment_id,
            "merchant_account_id": self._account(currency),
            "options": {"submit_for_settlement": request.capture_now},
        }
        if request.payment_method.startswith(VAULT_TOKEN_PREFIX):
            params["payment_method_token"] = request.payment_method
        else:
            params["payment_method_nonce"] = request.payment_method
        if request.customer_ref:
            params["customer_id"] = request.customer_ref
        result = self._call(
            lambda: self._gw.transaction.sale(params),
            key=request.idempotency_key,
            mutating=True,
        )
        if not result.is_success:
            raise result_error(result)
        return self._payment(result.transaction)

    def capture(
        self, idempotency_key: str, reference: str, amount_minor: int | None = None
    ) -> GatewayPayment:
        amount = None
        if amount_minor is not None:
            current = self._find(reference)
            amount = minor_to_decimal(validate_amount(amount_minor), current.currency_iso_code)
        result = self._call(
            lambda: self._gw.transaction.submit_for_settlement(reference, amount),
            key=idempotency_key,
            mutating=True,
        )
        if result.is_success:
            return self._payment(result.transaction)
        if "91507" not in error_codes(result):
            raise result_error(result)
        # Not authorized any more: fine if an earlier attempt captured it.
        payment = self._payment(self._find(reference))
        already = payment.state in (GatewayPaymentState.CAPTURED, GatewayPaymentState.SETTLED)
        if not already:
            raise InvalidRequest(f"cannot capture a {payment.state} payment", gateway=GATEWAY)
        if amount_minor is not None and payment.captured_minor != amount_minor:
            raise IdempotencyMismatch("payment was captured with another amount", gateway=GATEWAY)
        return payment

    def cancel(self, idempotency_key: str, reference: str) -> GatewayPayment:
        result = self._call(
            lambda: self._gw.transaction.void(reference), key=idempotency_key, mutating=True
        )
        if result.is_success:
            return self._payment(result.transaction)
        if "91504" not in error_codes(result):
            raise result_error(result)
        payment = self._payment(self._find(reference))
        if payment.state is not GatewayPaymentState.CANCELED:
            raise InvalidRequest(f"cannot cancel a {payment.state} payment", gateway=GATEWAY)
        return payment

    def refund(self, idempotency_key: str, reference: str, amount_minor: int) -> RefundResult:
        validate_amount(amount_minor)
        done = _before_sending(lambda: self._find_refund(idempotency_key))
        if done is not None:
            if done.payment_reference != reference or done.amount_minor != amount_minor:
                raise IdempotencyMismatch("refund key reused for another refund", gateway=GATEWAY)
            return done
        sale = _before_sending(lambda: self._find(reference))
        currency = sale.currency_iso_code
        status = sale.status
        captured = records.to_minor(sale.amount, currency)
        voided = RefundResult(GATEWAY, sale.id, sale.id, amount_minor, currency, "succeeded")
        if status == "voided":
            return voided  # a refund that became a void (below) on an earlier attempt
        if status == "submitted_for_settlement" and amount_minor == captured:
            # Braintree refunds only settled money; before settlement a full
            # refund is a void, so the customer is never charged at all.
            # Its own key: if settlement wins the race, the refund below reuses the
            # refund's key for a different request, which Braintree would refuse.
            result = self._call(
                lambda: self._gw.transaction.void(reference),
                key=f"{idempotency_key}:void",
                mutating=True,
            )
            if result.is_success:
                return voided
            # The batch may have settled the sale between our read and the void: then
            # the void is refused, and the money goes back as a refund below instead.
            status = self._find(reference).status
            if status == "voided":  # a concurrent attempt voided it
                return voided
            if status == "submitted_for_settlement":
                raise result_error(result)
            log.info("braintree_void_raced_settlement", status=status)
        if status in records.CAPTURED:
            waiting = Unavailable(
                "refunds wait until the capture has settled", gateway=GATEWAY, retry_after=60.0
            )
            waiting.nothing_sent = True  # a void, if tried, was refused: nothing moved
            raise waiting
        params = {"amount": minor_to_decimal(amount_minor, currency), "order_id": idempotency_key}
        result = self._call(
            lambda: self._gw.transaction.refund(reference, params),
            key=idempotency_key,
            mutating=True,
        )
        if not result.is_success:
            raise result_error(result)
        return records.refund(result.transaction)

    def retrieve(self, reference: str) -> GatewayPayment:
        return self._payment(self._find(reference), with_refunds=True)

    def lookup(
        self, payment_id: str, *, attempt_key: str | None = None, since: datetime | None = None
    ) -> GatewayPayment | None:
        """The sale for our payment id: a successful one if any, else the latest failed.

        `since` keeps only sales created from then on (one attempt: the workflow runs its
        attempts one after another). Braintree's search is eventually consistent
        (https://developer.paypal.com/braintree/docs/reference/request/transaction/search/python):
        a miss is "not visible yet", which the workflow turns into a verdict only past a
        lag bound.
        """
        return self._find_sale(payment_id, successful_only=False, since=since)

    def list_settled(self, start: datetime, end: datetime) -> list[SettledTransaction]:
        """Sales and refunds settled in [start, end), with fees per our schedule."""
        query = braintree.TransactionSearch.settled_at.between(
            records.utc(start).replace(microsecond=0, tzinfo=None),
            records.utc(end).replace(tzinfo=None),
        )
        found = self._search([query])
        originals = self._payment_ids(
            [t.refunded_transaction_id for t in found if t.type == "credit"]
        )
        return records.settled_rows(found, originals, self._fees, start, end)

    def list_payments(
        self, created_from: datetime, created_to: datetime
    ) -> list[tuple[GatewayPayment, datetime]]:
        """Every sale created in [created_from, created_to), with its creation time.

        Transaction search is eventually consistent, so callers list only windows older
        than their lag bound. Refunded amounts come from `transaction.find` of each
        refund (the primary record), not from the search.
        """
        search = braintree.TransactionSearch
        found = self._search(
            [
                search.created_at.between(
                    records.utc(created_from).replace(microsecond=0, tzinfo=None),
                    records.utc(created_to).replace(tzinfo=None),
                ),
                search.type == braintree.Transaction.Type.Sale,
            ]
        )
        low, high = records.utc(created_from), records.utc(created_to)
        out: list[tuple[GatewayPayment, datetime]] = []
        for txn in found:
            created = records.utc(txn.created_at)
            if low <= created < high:
                out.append((self._payment(txn, with_refunds=True), created))
        return out

    # -- helpers ---------------------------------------------------------------------

    def _currency(self, currency: str) -> str:
        try:
            return validate_currency(currency)
        except Exception as exc:
            raise InvalidRequest(str(exc), gateway=GATEWAY, field="currency") from None

    def _account(self, currency: str) -> str:
        return self._accounts.get(currency) or f"{self._merchant_id}_{currency.lower()}"

    def _find(self, reference: str) -> Any:
        return self._call(lambda: self._gw.transaction.find(reference), mutating=False)

    def _search(self, query: list[Any]) -> list[Any]:
        try:
            return self._call(lambda: list(self._gw.transaction.search(query)), mutating=False)
        except InvalidRequest as exc:
            if exc.http_status != 404:
                raise
            # A search names no id: its 404 is the endpoint's (a configuration or routing
            # problem), to be retried and alerted, never "no such payment".
            raise Unavailable(
                "Braintree answered 404 for its search endpoint", gateway=GATEWAY, http_status=404
            ) from exc

    def _by_order_id(self, order_id: str, kind: str, since: datetime | None = None) -> list[Any]:
        search = braintree.TransactionSearch
        query = [search.order_id == order_id, search.type == kind]
        if since is not None:
            query.append(search.created_at >= records.utc(since).replace(tzinfo=None))
        return self._search(query)

    def _find_sale(
        self, payment_id: str, *, successful_only: bool, since: datetime | None = None
    ) -> GatewayPayment | None:
        sales = self._by_order_id(payment_id, braintree.Transaction.Type.Sale, since)
        sales.sort(key=lambda t: (t.created_at, t.id))
        good = [t for t in sales if t.status not in records.FAILED]
        pick = good or ([] if successful_only else sales)
        return self._payment(pick[-1], with_refunds=True) if pick else None

    def find_refund(self, idempotency_key: str) -> RefundResult | None:
        """The refund (credit) made with our key, found by its order id.

        Braintree has no idempotency keys and its search can lag behind a credit just
        made, so a miss is final only once the lag bound has passed since the last
        request that may have made it: the workflow waits that long before it resends
        (workflows.payment.refund_gateway), and the refund activity's own retries ask
        here first (activities.gateway).
        """
        return self._find_refund(idempotency_key)

    def retrieve_refund(self, reference: str) -> RefundResult:
        """A refund's current status by its id: a credit, or a sale whose full refund
        before settlement became a void (its id is the sale's)."""
        txn = self._find(reference)
        if txn.type == braintree.Transaction.Type.Sale:
            voided = "succeeded" if txn.status == "voided" else "failed"
            amount = records.to_minor(txn.amount, txn.currency_iso_code)
            return RefundResult(GATEWAY, txn.id, txn.id, amount, txn.currency_iso_code, voided)
        return records.refund(txn)

    def _find_refund(self, idempotency_key: str) -> RefundResult | None:
        credits = self._by_order_id(idempotency_key, braintree.Transaction.Type.Credit)
        return records.refund(credits[0]) if credits else None

    def _payment_ids(self, references: list[str]) -> dict[str, str | None]:
        if not references:
            return {}
        originals = self._search([braintree.TransactionSearch.ids.in_list(sorted(set(references)))])
        return {t.id: t.order_id or None for t in originals}

    def _payment(self, txn: Any, *, with_refunds: bool = False) -> GatewayPayment:
        refunded = 0
        if with_refunds:
            for refund_id in txn.refund_ids:
                credit = self._find(refund_id)
                if records.refund_status(credit) != "failed":  # pending: committed to leave
                    refunded += records.to_minor(credit.amount, txn.currency_iso_code)
        return records.payment(txn, refunded)

    def _call(self, fn: Callable[[], T], *, mutating: bool, key: str | None = None) -> T:
        """Run one SDK call (sending `key` if enabled), translating the SDK's failures."""
        with sending_key(key if self._send_key else None):
            try:
                return fn()
            except Exception as exc:
                error = sdk_error(exc, mutating=mutating, retry_after=self._http.retry_after())
                if error is None:
                    raise
                raise error from exc


def _before_sending(read: Callable[[], T]) -> T:
    """A read that precedes an operation's write: its failure proves nothing was sent."""
    try:
        return read()
    except GatewayError as exc:
        exc.nothing_sent = True
        raise
