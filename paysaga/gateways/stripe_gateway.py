"""Stripe adapter on the official `stripe` SDK (StripeClient, no global state).

Authorize = PaymentIntent with capture_method=manual confirmed at create; ACH
debits use a bank account made from a Plaid processor token. Every mutating
call sends our idempotency key; SDK retries are off (retries live in workflows).
The SDK's exceptions are classified in stripe_errors.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import stripe

from paysaga.config.settings import Settings
from paysaga.domain import ach_returns
from paysaga.gateways import stripe_settlement as settlement
from paysaga.gateways.braintree_records import utc
from paysaga.gateways.stripe_errors import NAME, translated
from paysaga.gateways.types import (
    AuthorizeRequest,
    GatewayPayment,
    GatewayPaymentState,
    RefundResult,
    SettledTransaction,
    VaultedCustomer,
)

T = TypeVar("T")

_STATES = {
    "requires_capture": GatewayPaymentState.AUTHORIZED,
    "requires_action": GatewayPaymentState.REQUIRES_ACTION,
    "processing": GatewayPaymentState.PROCESSING,
    "canceled": GatewayPaymentState.CANCELED,
    "requires_payment_method": GatewayPaymentState.FAILED,
    "requires_confirmation": GatewayPaymentState.FAILED,
}


def _metadata(request: AuthorizeRequest) -> dict[str, str]:
    metadata = {"payment_id": request.payment_id}
    if request.tag_attempt:
        metadata["attempt"] = request.idempotency_key
    return metadata


def _get(obj: Any, key: str) -> Any:
    """A field of a StripeObject (not a dict in SDK 16) or None."""
    if obj is None:
        return None
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    return data.get(key) if isinstance(data, dict) else None


class StripeGateway:
    """The CardGateway Protocol on Stripe, plus ACH debits."""

    name = NAME
    # https://docs.stripe.com/api/idempotent_requests: a same-key request within 24 h
    # returns the stored result of the first one instead of executing again.
    replays_idempotency_keys = True

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str = "https://api.stripe.com",
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
    ) -> None:
        self._http = stripe.RequestsClient(timeout=(connect_timeout_s, timeout_s))
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=0,
            http_client=self._http,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeGateway:
        return cls(settings.stripe_api_key.get_secret_value(), api_base=settings.stripe_base())

    def close(self) -> None:
        self._http.close()  # type: ignore[no-untyped-call]

    @staticmethod
    def _call(fn: Callable[[], T], *, mutating: bool) -> T:
        with translated(mutating=mutating):
            return fn()

    # -- vaulting -----------------------------------------------------------------------

    def vault_customer(
        self, idempotency_key: str, *, email: str, name: str, payment_method: str
    ) -> VaultedCustomer:
        v1 = self._client.v1
        customer = self._call(
            lambda: v1.customers.create(
                params={"email": email, "name": name},
                options={"idempotency_key": f"{idempotency_key}:customer"},
            ),
            mutating=True,
        )
        pm = self._call(
            lambda: v1.payment_methods.attach(
                payment_method,
                params={"customer": customer.id},
                options={"idempotency_key": f"{idempotency_key}:attach"},
            ),
            mutating=True,
        )
        return VaultedCustomer(gateway=NAME, customer_ref=customer.id, payment_method_ref=pm.id)

    def attach_bank_account(
        self, idempotency_key: str, customer_ref: str, processor_token: str
    ) -> str:
        """Turn a Plaid `btok_...` processor token into a bank account (ba_...) on the customer."""
        source = self._call(
            lambda: self._client.v1.customers.payment_sources.create(
                customer_ref,
                params={"source": processor_token},
                options={"idempotency_key": idempotency_key},
            ),
            mutating=True,
        )
        return str(source.id)

    def create_customer(self, idempotency_key: str, *, email: str, name: str) -> str:
        customer = self._call(
            lambda: self._client.v1.customers.create(
                params={"email": email, "name": name},
                options={"idempotency_key": idempotency_key},
            ),
            mutating=True,
        )
        return str(customer.id)

    # -- payments -----------------------------------------------------------------------

    def authorize(self, request: AuthorizeRequest) -> GatewayPayment:
        params: dict[str, Any] = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "payment_method": request.payment_method,
            "capture_method": "automatic" if request.capture_now else "manual",
            "confirm": True,
            "metadata": _metadata(request),
            "payment_method_types": ["card"],
            "expand": ["latest_charge"],
        }
        if request.customer_ref:
            params["customer"] = request.customer_ref
        if request.description:
            params["description"] = request.description
        return self._create_intent(request, params)

    def debit_ach(self, request: AuthorizeRequest) -> GatewayPayment:
        """ACH debit from a bank account (ba_...): stays PROCESSING until settled or returned."""
        params: dict[str, Any] = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "payment_method": request.payment_method,
            "customer": request.customer_ref,
            "confirm": True,
            "metadata": _metadata(request),
            "payment_method_types": ["us_bank_account"],
            "expand": ["latest_charge"],
        }
        return self._create_intent(request, params)

    def _create_intent(self, request: AuthorizeRequest, params: dict[str, Any]) -> GatewayPayment:
        intent = self._call(
            lambda: self._client.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": request.idempotency_key},
            ),
            mutating=True,
        )
        return self._payment(intent)

    def capture(
        self, idempotency_key: str, reference: str, amount_minor: int | None = None
    ) -> GatewayPayment:
        params: dict[str, Any] = {"expand": ["latest_charge"]}
        if amount_minor is not None:
            params["amount_to_capture"] = amount_minor
        intent = self._call(
            lambda: self._client.v1.payment_intents.capture(
                reference,
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            ),
            mutating=True,
        )
        return self._payment(intent)

    def cancel(self, idempotency_key: str, reference: str) -> GatewayPayment:
        intent = self._call(
            lambda: self._client.v1.payment_intents.cancel(
                reference,
                params={"expand": ["latest_charge"]},
                options={"idempotency_key": idempotency_key},
            ),
            mutating=True,
        )
        return self._payment(intent)

    def refund(self, idempotency_key: str, reference: str, amount_minor: int) -> RefundResult:
        """Refund (part of) a PaymentIntent. A resend with the same key answers with the
        first refund (Stripe replays an idempotency key's response for 24 hours), so an
        unknown outcome is resolved by resending, no search needed.

        The refund carries our payment id, so its webhooks (refund.failed ...) reach the
        payment (a refund object has its own metadata, not the charge's).
        """
        payment_id = idempotency_key.partition(":")[0]  # keys are `{payment_id}:{step}`
        refund = self._call(
            lambda: self._client.v1.refunds.create(
                params={
                    "payment_intent": reference,
                    "amount": amount_minor,
                    "metadata": {"payment_id": payment_id},
                },
                options={"idempotency_key": idempotency_key},
            ),
            mutating=True,
        )
        return _refund(refund, reference)

    def retrieve_refund(self, reference: str) -> RefundResult:
        """A refund's current status by its id (re_...): pending ones are polled with it."""
        refund = self._call(lambda: self._client.v1.refunds.retrieve(reference), mutating=False)
        return _refund(refund, "")

    def retrieve(self, reference: str) -> GatewayPayment:
        # The balance transaction too: settled is its funds available, not that it exists.
        expand = ["latest_charge", "latest_charge.balance_transaction"]
        intent = self._call(
            lambda: self._client.v1.payment_intents.retrieve(reference, params={"expand": expand}),
            mutating=False,
        )
        return self._payment(intent)

    def lookup(
        self, payment_id: str, *, attempt_key: str | None = None, since: datetime | None = None
    ) -> GatewayPayment | None:
        # Search is not read-after-write consistent (https://docs.stripe.com/search#data-freshness):
        # a miss means "not visible yet"; the workflow decides when a miss is a verdict.
        field, value = ("attempt", attempt_key) if attempt_key else ("payment_id", payment_id)
        escaped = value.replace("'", "\\'")
        result = self._call(
            lambda: self._client.v1.payment_intents.search(
                params={"query": f"metadata['{field}']:'{escaped}'", "limit": 10}
            ),
            mutating=False,
        )
        intents = list(result.data)
        if not intents:
            return None
        # A declined attempt and a later success can share the payment id: prefer the live one.
        live = [i for i in intents if i.status != "requires_payment_method"]
        return self.retrieve((live or intents)[0].id)

    def list_settled(self, start: datetime, end: datetime) -> list[SettledTransaction]:
        """Balance transactions whose funds became available in [start, end)
        (paysaga.gateways.stripe_settlement says why that, not their creation)."""
        start, end = utc(start), utc(end)
        gte, lt = settlement.listing_window(start, end)
        page = self._call(
            lambda: self._client.v1.balance_transactions.list(
                params={
                    "created": {"gte": gte, "lt": lt},
                    "limit": 100,
                    "expand": ["data.source", "data.source.charge"],
                }
            ),
            mutating=False,
        )
        out: list[SettledTransaction] = []
        with translated(mutating=False):
            for txn in page.auto_paging_iter():
                item = settlement.settled_in(txn, start, end)
                if item is not None:
                    out.append(item)
        return out

    def list_payments(
        self, created_from: datetime, created_to: datetime
    ) -> list[tuple[GatewayPayment, datetime]]:
        """Every PaymentIntent created in [created_from, created_to), with its creation time.

        The list endpoint, not Search: a list reads the primary data, while Search "is not
        suitable for read-after-write flows" and can lag (docs.stripe.com/search#data-freshness).
        The range is applied here too, so a server that ignores `created` changes nothing.
        """
        low, high = int(created_from.timestamp()), int(created_to.timestamp())
        page = self._call(
            lambda: self._client.v1.payment_intents.list(
                params={
                    "created": {"gte": low, "lt": high},
                    "limit": 100,
                    "expand": ["data.latest_charge"],
                }
            ),
            mutating=False,
        )
        out: list[tuple[GatewayPayment, datetime]] = []
        with translated(mutating=False):
            for intent in page.auto_paging_iter():
                created = int(intent.created)
                if low <= created < high:
                    out.append((self._payment(intent), datetime.fromtimestamp(created, tz=UTC)))
        return out

    # -- mapping ------------------------------------------------------------------------

    @staticmethod
    def _payment(intent: Any) -> GatewayPayment:
        status = str(intent.status)
        charge = intent.latest_charge if not isinstance(intent.latest_charge, str) else None
        refunded = int(charge.amount_refunded) if charge is not None else 0
        if status == "succeeded":
            # A balance transaction exists from capture on: settled is its funds available.
            settled = charge is not None and settlement.is_available(charge.balance_transaction)
            state = GatewayPaymentState.SETTLED if settled else GatewayPaymentState.CAPTURED
        else:
            state = _STATES.get(status, GatewayPaymentState.FAILED)
        error = intent.last_payment_error
        decline_code = None
        if state is GatewayPaymentState.FAILED and error is not None:
            code = _get(error, "code")
            # An ACH return carries a failure code (insufficient_funds): name its R-code.
            decline_code = _get(error, "decline_code") or ach_returns.return_code(code) or code
        return GatewayPayment(
            gateway=NAME,
            reference=str(intent.id),
            payment_id=str(_get(intent.metadata, "payment_id") or ""),
            state=state,
            amount_minor=int(intent.amount),
            captured_minor=int(intent.amount_received or 0),
            refunded_minor=refunded,
            currency=str(intent.currency).upper(),
            decline_code=decline_code,
        )


def _refund(refund: Any, payment_reference: str) -> RefundResult:
    # Its status as Stripe reports it (https://docs.stripe.com/api/refunds/object#refund_object-status):
    # pending / requires_action may still move money or fail; the workflow decides.
    return RefundResult(
        gateway=NAME,
        reference=refund.id,
        payment_reference=str(refund.payment_intent or payment_reference),
        amount_minor=int(refund.amount),
        currency=str(refund.currency).upper(),
        status=str(refund.status or "pending"),
    )
