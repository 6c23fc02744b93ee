"""Braintree adapter over the official `braintree` SDK (XML over HTTP).

Idempotency. Braintree's API has no idempotency key, so retries are made safe
the way careful integrations do it:
- every sale carries `order_id` = our payment id, and `authorize` first looks
  for a successful sale with that order id (transaction search) before creating
  one. This read-before-write is safe because one workflow owns a payment and
  runs its steps one at a time: nothing else creates a sale for that payment
  between the read and the write.
- capture (submit_for_settlement) and cancel (void) are idempotent by state: the
  "wrong status" error of a repeat is answered by reading the transaction.
- a refund carries `order_id` = our refund idempotency key and is looked up by
  it before refunding again.
On top, every mutating request carries our key in `X-Idempotency-Key` (through
an SDK http strategy): the real gateway ignores it, the sandbox replays stored
responses for it like Stripe does.

SDK retries: the braintree SDK never retries on its own; we add a connect
timeout distinct from the read timeout so "never reached the gateway"
(Unavailable) and "sent, no answer" (OutcomeUnknown) stay apart.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urlsplit

import braintree
import requests
import structlog
from braintree.exceptions.authentication_error import AuthenticationError
from braintree.exceptions.authorization_error import AuthorizationError
from braintree.exceptions.gateway_timeout_error import GatewayTimeoutError
from braintree.exceptions.http.connection_error import ConnectionError as BtConnectionError
from braintree.exceptions.http.invalid_response_error import InvalidResponseError
from braintree.exceptions.http.timeout_error import ConnectTimeoutError, ReadTimeoutError
from braintree.exceptions.http.timeout_error import TimeoutError as BtTimeoutError
from braintree.exceptions.not_found_error import NotFoundError
from braintree.exceptions.request_timeout_error import RequestTimeoutError
from braintree.exceptions.server_error import ServerError
from braintree.exceptions.service_unavailable_error import ServiceUnavailableError
from braintree.exceptions.too_many_requests_error import TooManyRequestsError
from braintree.exceptions.unexpected_error import UnexpectedError
from braintree.exceptions.upgrade_required_error import UpgradeRequiredError
from braintree.util.http import Http

from paysaga.config.settings import Settings
from paysaga.domain.errors import ConfigurationError
from paysaga.domain.money import CURRENCY_EXPONENTS, validate_amount, validate_currency
from paysaga.gateways.errors import (
    AuthenticationFailed,
    Declined,
    GatewayError,
    IdempotencyMismatch,
    InvalidRequest,
    OutcomeUnknown,
    RateLimited,
    Unavailable,
)
from paysaga.gateways.types import (
    AuthorizeRequest,
    GatewayName,
    GatewayPayment,
    GatewayPaymentState,
    RefundResult,
    SettledTransaction,
    VaultedCustomer,
)

log = structlog.get_logger()
T = TypeVar("T")

GATEWAY = GatewayName.BRAINTREE.value
IDEMPOTENCY_HEADER = "X-Idempotency-Key"
IDEMPOTENCY_MISMATCH_CODE = "93199"  # the sandbox's code for a reused key
# Payment-method tokens we vault carry this prefix; anything else is a nonce.
VAULT_TOKEN_PREFIX = "vtok_"  # noqa: S105 - a prefix, not a secret

# Braintree processor response code -> (our decline code, soft?). Soft means the
# same card may succeed later (dunning); hard means ask the customer for another.
PROCESSOR_DECLINES: dict[str, tuple[str, bool]] = {
    "2000": ("do_not_honor", False),
    "2001": ("insufficient_funds", True),
    "2002": ("try_again_later", True),  # Limit Exceeded
    "2003": ("try_again_later", True),  # Cardholder's Activity Limit Exceeded
    "2004": ("expired_card", False),
    "2005": ("incorrect_number", False),
    "2010": ("incorrect_cvc", False),
    "2015": ("transaction_not_allowed", False),
    "2038": ("processing_error", True),  # Processor Declined (generic, temporary)
    "2044": ("try_again_later", True),  # Declined - Call Issuer: resolvable by the holder
    "2046": ("try_again_later", True),  # Declined (issuer unwilling right now)
    "2047": ("pickup_card", False),
    "2057": ("transaction_not_allowed", False),
}
PROCESSOR_UNAVAILABLE = "3000"  # Processor Network Unavailable - Try Again

_CAPTURED = {"submitted_for_settlement", "settling", "settlement_pending", "settlement_confirmed"}
_FAILED = {"processor_declined", "gateway_rejected", "failed", "authorization_expired"}
_STATES: dict[str, GatewayPaymentState] = {
    "authorizing": GatewayPaymentState.PROCESSING,
    "authorized": GatewayPaymentState.AUTHORIZED,
    **dict.fromkeys(_CAPTURED, GatewayPaymentState.CAPTURED),
    "settled": GatewayPaymentState.SETTLED,
    "voided": GatewayPaymentState.CANCELED,
    "settlement_declined": GatewayPaymentState.FAILED,
    "settlement_failed": GatewayPaymentState.FAILED,
    **dict.fromkeys(_FAILED, GatewayPaymentState.FAILED),
}

_idempotency_key: ContextVar[str | None] = ContextVar("braintree_idempotency_key", default=None)


class _Http(Http):  # type: ignore[misc]
    """The SDK's http strategy with split timeouts and our idempotency header.

    `Configuration(http_strategy=...)` is the SDK's supported extension point;
    `_make_request` hands us the full URL, headers and body.
    """

    connect_timeout_s = 3.0

    def __init__(self, config: Any, environment: Any) -> None:
        super().__init__(config, environment)
        self.last = threading.local()  # Retry-After of the last 429, per thread

    def http_do(
        self, http_verb: str, path: str, headers: dict[str, Any], request_body: Any
    ) -> list[Any]:
        headers = dict(headers)
        key = _idempotency_key.get()
        if key is not None:
            headers[IDEMPOTENCY_HEADER] = key
        data, files = request_body if isinstance(request_body, tuple) else (request_body, None)
        verify = self.environment.ssl_certificate if self.environment.is_ssl else False
        response = self._get_session().request(
            http_verb,
            path,
            headers=headers,
            data=data,
            files=files,
            verify=verify,
            timeout=(self.connect_timeout_s, self.config.timeout),
        )
        self.last.retry_after = response.headers.get("Retry-After")
        return [response.status_code, response.text]


@dataclass(frozen=True)
class FeeSchedule:
    """What the processor keeps per settled sale: percentage (basis points) + fixed."""

    percent_bps: int = 290
    fixed_minor: int = 30

    def fee(self, amount_minor: int) -> int:
        return (amount_minor * self.percent_bps + 5_000) // 10_000 + self.fixed_minor


def to_decimal(amount_minor: int, currency: str) -> str:
    """Integer minor units -> Braintree's decimal string, exactly ("10.00", "1000")."""
    return str(Decimal(amount_minor).scaleb(-CURRENCY_EXPONENTS[currency]))


def to_minor(amount: object, currency: str) -> int:
    try:
        scaled = Decimal(str(amount)).scaleb(CURRENCY_EXPONENTS[currency])
    except InvalidOperation:
        raise GatewayError(f"gateway sent a malformed amount {amount!r}", gateway=GATEWAY) from None
    if scaled != scaled.to_integral_value():
        raise GatewayError(f"amount {amount} has sub-minor digits", gateway=GATEWAY)
    return int(scaled)


def _derived_id(prefix: str, idempotency_key: str) -> str:
    # Braintree ids allow [A-Za-z0-9_-]{1,36}; our keys contain ':' and may be long.
    return prefix + hashlib.sha256(idempotency_key.encode()).hexdigest()[: 36 - len(prefix)]


class BraintreeGateway:
    """`CardGateway` on Braintree. Thread-safe; one instance per configuration."""

    name = GATEWAY

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

        def strategy(config: Any, environment: Any) -> _Http:
            http = _Http(config, environment)
            http.connect_timeout_s = connect_timeout_s
            return http

        config = braintree.Configuration(
            environment=_environment(base_url),
            merchant_id=merchant_id,
            public_key=public_key,
            private_key=private_key,
            timeout=timeout_s,
            wrap_http_exceptions=True,
            http_strategy=strategy,
        )
        self._http: _Http = config.http_strategy()
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
            if "91609" not in _error_codes(result):
                raise self._error_from_result(result)
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
            "amount": to_decimal(request.amount_minor, currency),
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
            raise self._error_from_result(result)
        return self._payment(result.transaction)

    def capture(
        self, idempotency_key: str, reference: str, amount_minor: int | None = None
    ) -> GatewayPayment:
        amount = None
        if amount_minor is not None:
            current = self._find(reference)
            amount = to_decimal(validate_amount(amount_minor), current.currency_iso_code)
        result = self._call(
            lambda: self._gw.transaction.submit_for_settlement(reference, amount),
            key=idempotency_key,
            mutating=True,
        )
        if result.is_success:
            return self._payment(result.transaction)
        if "91507" not in _error_codes(result):
            raise self._error_from_result(result)
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
        if "91504" not in _error_codes(result):
            raise self._error_from_result(result)
        payment = self._payment(self._find(reference))
        if payment.state is not GatewayPaymentState.CANCELED:
            raise InvalidRequest(f"cannot cancel a {payment.state} payment", gateway=GATEWAY)
        return payment

    def refund(self, idempotency_key: str, reference: str, amount_minor: int) -> RefundResult:
        validate_amount(amount_minor)
        done = self._find_refund(idempotency_key)
        if done is not None:
            if done.payment_reference != reference or done.amount_minor != amount_minor:
                raise IdempotencyMismatch("refund key reused for another refund", gateway=GATEWAY)
            return done
        sale = self._find(reference)
        currency = sale.currency_iso_code
        status = sale.status
        captured = to_minor(sale.amount, currency)
        if status == "voided":
            # A refund that became a void (below) on an earlier attempt.
            return RefundResult(GATEWAY, sale.id, sale.id, amount_minor, currency, "succeeded")
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
                return RefundResult(GATEWAY, sale.id, sale.id, amount_minor, currency, "succeeded")
            # The batch may have settled the sale between our read and the void: then
            # the void is refused, and the money goes back as a refund below instead.
            status = self._find(reference).status
            if status == "voided":  # a concurrent attempt voided it
                return RefundResult(GATEWAY, sale.id, sale.id, amount_minor, currency, "succeeded")
            if status == "submitted_for_settlement":
                raise self._error_from_result(result)
            log.info("braintree_void_raced_settlement", status=status)
        if status in _CAPTURED:
            raise Unavailable(
                "refunds wait until the capture has settled",
                gateway=GATEWAY,
                retry_after=60.0,
            )
        params = {"amount": to_decimal(amount_minor, currency), "order_id": idempotency_key}
        result = self._call(
            lambda: self._gw.transaction.refund(reference, params),
            key=idempotency_key,
            mutating=True,
        )
        if not result.is_success:
            raise self._error_from_result(result)
        return self._refund(result.transaction)

    def retrieve(self, reference: str) -> GatewayPayment:
        return self._payment(self._find(reference), with_refunds=True)

    def lookup(self, payment_id: str) -> GatewayPayment | None:
        """The sale for our payment id: a successful one if any, else the latest failed."""
        return self._find_sale(payment_id, successful_only=False)

    def list_settled(self, start: datetime, end: datetime) -> list[SettledTransaction]:
        """Sales and refunds settled in [start, end), with fees per our schedule."""
        start_utc, end_utc = _utc(start), _utc(end)
        query = braintree.TransactionSearch.settled_at.between(
            start_utc.replace(microsecond=0, tzinfo=None), end_utc.replace(tzinfo=None)
        )
        found = self._search([query])
        rows: list[SettledTransaction] = []
        originals = self._payment_ids(
            [t.refunded_transaction_id for t in found if t.type == "credit"]
        )
        for txn in found:
            settled_at = _status_time(txn, "settled")
            if txn.status != "settled" or settled_at is None:
                continue
            if not start_utc <= settled_at < end_utc:
                continue
            amount = to_minor(txn.amount, txn.currency_iso_code)
            extra = {
                "settlement_batch_id": txn.settlement_batch_id or "",
                "merchant_account_id": txn.merchant_account_id,
            }
            if txn.type == "credit":
                parent = txn.refunded_transaction_id
                rows.append(
                    SettledTransaction(
                        GATEWAY,
                        parent,
                        originals.get(parent),
                        "refund",
                        amount,
                        0,
                        txn.currency_iso_code,
                        settled_at,
                        refund_reference=txn.id,
                        extra=extra,
                    )
                )
            else:
                rows.append(
                    SettledTransaction(
                        GATEWAY,
                        txn.id,
                        txn.order_id or None,
                        "charge",
                        amount,
                        self._fees.fee(amount),
                        txn.currency_iso_code,
                        settled_at,
                        extra=extra,
                    )
                )
        return sorted(rows, key=lambda row: (row.settled_at, row.reference))

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
        return self._call(lambda: list(self._gw.transaction.search(query)), mutating=False)

    def _find_sale(self, payment_id: str, *, successful_only: bool) -> GatewayPayment | None:
        sales = self._search(
            [
                braintree.TransactionSearch.order_id == payment_id,
                braintree.TransactionSearch.type == braintree.Transaction.Type.Sale,
            ]
        )
        sales.sort(key=lambda t: (t.created_at, t.id))
        good = [t for t in sales if t.status not in _FAILED]
        pick = good or ([] if successful_only else sales)
        return self._payment(pick[-1], with_refunds=True) if pick else None

    def _find_refund(self, idempotency_key: str) -> RefundResult | None:
        credits = self._search(
            [
                braintree.TransactionSearch.order_id == idempotency_key,
                braintree.TransactionSearch.type == braintree.Transaction.Type.Credit,
            ]
        )
        return self._refund(credits[0]) if credits else None

    def _payment_ids(self, references: list[str]) -> dict[str, str | None]:
        if not references:
            return {}
        originals = self._search([braintree.TransactionSearch.ids.in_list(sorted(set(references)))])
        return {t.id: t.order_id or None for t in originals}

    def _payment(self, txn: Any, *, with_refunds: bool = False) -> GatewayPayment:
        currency = txn.currency_iso_code
        state = _STATES.get(txn.status, GatewayPaymentState.PROCESSING)
        authorized = next(
            (e.amount for e in txn.status_history if e.status == "authorized"), txn.amount
        )
        captured = 0
        if state in (GatewayPaymentState.CAPTURED, GatewayPaymentState.SETTLED):
            captured = to_minor(txn.amount, currency)
        refunded = 0
        if with_refunds:
            for refund_id in txn.refund_ids:
                credit = self._find(refund_id)
                if credit.status not in _FAILED:
                    refunded += to_minor(credit.amount, currency)
        decline = None
        if state is GatewayPaymentState.FAILED:
            decline = _decline_code(txn)
        return GatewayPayment(
            gateway=GATEWAY,
            reference=txn.id,
            payment_id=txn.order_id or "",
            state=state,
            amount_minor=to_minor(authorized, currency),
            captured_minor=captured,
            refunded_minor=refunded,
            currency=currency,
            decline_code=decline,
        )

    @staticmethod
    def _refund(credit: Any) -> RefundResult:
        status = "failed" if credit.status in _FAILED else "succeeded"
        return RefundResult(
            GATEWAY,
            credit.id,
            credit.refunded_transaction_id,
            to_minor(credit.amount, credit.currency_iso_code),
            credit.currency_iso_code,
            status,
        )

    def _error_from_result(self, result: Any) -> GatewayError:
        txn = result.transaction
        if txn is not None:
            code = str(txn.processor_response_code or "")
            if txn.status == "gateway_rejected":
                reason = str(txn.gateway_rejection_reason or "gateway_rejected")
                return Declined(result.message, gateway=GATEWAY, decline_code=reason, soft=False)
            if code == PROCESSOR_UNAVAILABLE:
                return Unavailable(result.message, gateway=GATEWAY)
            decline_code, soft = PROCESSOR_DECLINES.get(code, ("processor_declined", False))
            if txn.status == "failed":
                decline_code, soft = "processing_error", True
            return Declined(result.message, gateway=GATEWAY, decline_code=decline_code, soft=soft)
        errors = result.errors.deep_errors
        if any(e.code == IDEMPOTENCY_MISMATCH_CODE for e in errors):
            return IdempotencyMismatch(result.message, gateway=GATEWAY, http_status=422)
        field = errors[0].attribute if errors else None
        return InvalidRequest(result.message, gateway=GATEWAY, http_status=422, field=field)

    def _call(self, fn: Callable[[], T], *, mutating: bool, key: str | None = None) -> T:
        """Run one SDK call, translating every SDK / transport failure."""
        with self._idempotency(key):
            try:
                return fn()
            except (AuthenticationError, AuthorizationError) as exc:
                status = 401 if isinstance(exc, AuthenticationError) else 403
                raise AuthenticationFailed(
                    "Braintree refused our credentials", gateway=GATEWAY, http_status=status
                ) from exc
            except NotFoundError as exc:
                error = InvalidRequest(
                    str(exc) or "resource not found", gateway=GATEWAY, http_status=404
                )
                error.code = "resource_missing"
                raise error from exc
            except TooManyRequestsError as exc:
                raise RateLimited(
                    "Braintree rate limit",
                    gateway=GATEWAY,
                    http_status=429,
                    retry_after=self._retry_after(),
                ) from exc
            except (ServerError, ServiceUnavailableError, RequestTimeoutError) as exc:
                raise Unavailable(
                    f"Braintree {type(exc).__name__}",
                    gateway=GATEWAY,
                    retry_after=self._retry_after(),
                ) from exc
            except GatewayTimeoutError as exc:
                raise self._after_send(exc, mutating, "gateway timeout (504)") from exc
            except ConnectTimeoutError as exc:
                raise Unavailable("connect timeout", gateway=GATEWAY) from exc
            except (ReadTimeoutError, BtTimeoutError, requests.Timeout) as exc:
                raise self._after_send(exc, mutating, "read timeout") from exc
            except (BtConnectionError, requests.ConnectionError) as exc:
                if _never_connected(exc):
                    raise Unavailable("connection refused", gateway=GATEWAY) from exc
                raise self._after_send(exc, mutating, "connection dropped") from exc
            except InvalidResponseError as exc:
                raise self._after_send(exc, mutating, "invalid response") from exc
            except UpgradeRequiredError as exc:
                raise InvalidRequest("SDK too old for the gateway", gateway=GATEWAY) from exc
            except UnexpectedError as exc:
                text = str(exc)
                if text.startswith("Unexpected HTTP_RESPONSE 5"):
                    raise Unavailable(text, gateway=GATEWAY) from exc
                raise InvalidRequest(text or "unexpected gateway answer", gateway=GATEWAY) from exc

    def _after_send(self, exc: Exception, mutating: bool, what: str) -> GatewayError:
        if mutating:
            return OutcomeUnknown(
                f"Braintree {what}: the request may have taken effect", gateway=GATEWAY
            )
        return Unavailable(f"Braintree {what}", gateway=GATEWAY)

    def _retry_after(self) -> float | None:
        raw = getattr(self._http.last, "retry_after", None)
        try:
            return float(raw) if raw is not None else None
        except ValueError:
            return None

    @contextmanager
    def _idempotency(self, key: str | None) -> Iterator[None]:
        token = _idempotency_key.set(key if self._send_key else None)
        try:
            yield
        finally:
            _idempotency_key.reset(token)


def _environment(base_url: str) -> Any:
    """A braintree.Environment for a URL, or the named "sandbox" / "production" ones.

    The SDK picks the scheme from the port alone ("443" -> https, anything else
    -> http), so a loopback sandbox works with a plain Environment instance and
    `is_ssl=False`; no subclass is needed.
    """
    if base_url in ("sandbox", "production"):
        return braintree.Environment.parse_environment(base_url)
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"not a Braintree base URL: {base_url!r}", field="PAYSAGA_BRAINTREE_BASE_URL"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if (parts.scheme == "https") != (port == 443):
        raise ConfigurationError(
            "the braintree SDK uses https exactly on port 443", field="PAYSAGA_BRAINTREE_BASE_URL"
        )
    ssl = parts.scheme == "https"
    certificate = braintree.Environment.Production.ssl_certificate if ssl else None
    return braintree.Environment("paysaga", parts.hostname, str(port), base_url, ssl, certificate)


def _error_codes(result: Any) -> set[str]:
    return {str(e.code) for e in result.errors.deep_errors}


def _decline_code(txn: Any) -> str:
    if txn.status == "gateway_rejected":
        return str(txn.gateway_rejection_reason or "gateway_rejected")
    code = str(getattr(txn, "processor_response_code", "") or "")
    if code == PROCESSOR_UNAVAILABLE or txn.status == "failed":
        return "processing_error"
    if txn.status in ("settlement_declined", "settlement_failed"):
        return str(txn.status)
    return PROCESSOR_DECLINES.get(code, ("processor_declined", False))[0]


def _never_connected(exc: BaseException) -> bool:
    """True when the TCP connection was never made (refused, DNS): nothing was sent."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if "NewConnectionError" in type(current).__name__ or isinstance(
            current, ConnectionRefusedError
        ):
            return True
        inner = (
            current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        )
        reason = getattr(current, "reason", None)
        current = (
            inner
            or (reason if isinstance(reason, BaseException) else None)
            or (current.__cause__ or current.__context__)
        )
    return False


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _status_time(txn: Any, status: str) -> datetime | None:
    for event in reversed(txn.status_history):
        if event.status == status:
            stamp: datetime = event.timestamp
            return _utc(stamp)
    return None
