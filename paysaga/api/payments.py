"""/v1/payments: create (Idempotency-Key), read, capture, cancel, refund, list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query
from fastapi.responses import JSONResponse

from paysaga.api.auth import current_merchant
from paysaga.api.schemas import CaptureBody, CreatePaymentBody, RefundBody
from paysaga.api.state import AppState, app_state
from paysaga.api.views import payment_json, refund_json, summary_json
from paysaga.client import PaysagaClient
from paysaga.client.control.idempotency import body_hash
from paysaga.client.ids import IDEMPOTENCY_KEY_RE, PAYMENT_ID_RE, check, payment_id_for
from paysaga.domain.errors import ValidationError

router = APIRouter(prefix="/v1/payments", tags=["payments"])

Merchant = Annotated[str, Depends(current_merchant)]
State = Annotated[AppState, Depends(app_state)]
PaymentId = Annotated[str, Path(max_length=300, description="payment-{merchant}.{key}")]
KeyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=100, description="[A-Za-z0-9_-]{1,100}"),
]


def _payments(state: AppState, merchant_id: str) -> PaysagaClient:
    return state.payments.for_merchant(merchant_id)


def _key(value: str | None, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise ValidationError("the Idempotency-Key header is required", field="Idempotency-Key")
        return None
    return check(IDEMPOTENCY_KEY_RE, value, "Idempotency-Key", "idempotency key")


def _payment_id(value: str) -> str:
    return check(PAYMENT_ID_RE, value, "payment_id", "payment id")


@router.post("", status_code=201)
async def create_payment(
    body: CreatePaymentBody,
    merchant_id: Merchant,
    state: State,
    idempotency_key: KeyHeader = None,
) -> JSONResponse:
    key = _key(idempotency_key, required=True)
    assert key is not None
    _check_method(body)
    payment_id = payment_id_for(merchant_id, key)
    claim = await state.idempotency.claim(
        merchant_id, "payment", key, body_hash(body.idempotency_body()), payment_id
    )
    bank = body.bank_account_id is not None
    view = await _payments(state, merchant_id).create_payment(
        idempotency_key=key,
        amount_minor=body.amount_minor,
        currency=body.currency,
        customer_id=body.customer_id,
        payment_method=body.payment_method,
        method_type="ach" if bank else "card",
        # An ACH debit settles on its own: there is nothing to capture later.
        capture=body.capture or bank,
        gateway=body.gateway if body.gateway != "ach" else None,
        description=body.description,
        bank_account_id=body.bank_account_id,
        balance_check=body.balance_check,
    )
    headers = {"Idempotent-Replayed": "true"} if claim.replay else None
    return JSONResponse(
        payment_json(view), status_code=200 if claim.replay else 201, headers=headers
    )


def _check_method(body: CreatePaymentBody) -> None:
    """A card payment names a payment method; an ACH debit an onboarded bank account."""
    if body.bank_account_id is not None:
        if body.payment_method is not None:
            raise ValidationError(
                "give either payment_method or bank_account_id, not both", field="payment_method"
            )
        if body.gateway not in (None, "ach"):
            raise ValidationError(
                "a bank account is debited by ACH: leave gateway out or set it to ach",
                field="gateway",
            )
        return
    if body.gateway == "ach":
        raise ValidationError(
            "an ACH debit names the customer's onboarded bank account: bank_account_id "
            "(from a completed onboarding), not a payment_method",
            field="bank_account_id",
        )
    if body.payment_method is None:
        raise ValidationError(
            "payment_method is required (or bank_account_id for an ACH debit)",
            field="payment_method",
        )
    if body.balance_check:
        raise ValidationError(
            "balance_check applies to ACH debits from a bank account", field="balance_check"
        )


@router.get("")
async def list_payments(
    merchant_id: Merchant,
    state: State,
    status: Annotated[str | None, Query(max_length=40)] = None,
    customer: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    rows = await _payments(state, merchant_id).list_payments(
        status=status, customer=customer, limit=limit
    )
    return {"object": "list", "data": [summary_json(row) for row in rows]}


@router.get("/{payment_id}")
async def get_payment(payment_id: PaymentId, merchant_id: Merchant, state: State) -> dict[str, Any]:
    view = await _payments(state, merchant_id).get_payment(_payment_id(payment_id))
    return payment_json(view)


@router.post("/{payment_id}/capture")
async def capture_payment(
    payment_id: PaymentId,
    merchant_id: Merchant,
    state: State,
    body: Annotated[CaptureBody | None, Body()] = None,
    idempotency_key: KeyHeader = None,
) -> dict[str, Any]:
    key = _key(idempotency_key, required=False)
    view = await _payments(state, merchant_id).capture(
        _payment_id(payment_id), body.amount_minor if body else None, request_id=key
    )
    return payment_json(view)


@router.post("/{payment_id}/cancel")
async def cancel_payment(
    payment_id: PaymentId,
    merchant_id: Merchant,
    state: State,
    idempotency_key: KeyHeader = None,
) -> dict[str, Any]:
    key = _key(idempotency_key, required=False)
    view = await _payments(state, merchant_id).cancel(_payment_id(payment_id), request_id=key)
    return payment_json(view)


@router.post("/{payment_id}/refunds", status_code=201)
async def refund_payment(
    payment_id: PaymentId,
    body: RefundBody,
    merchant_id: Merchant,
    state: State,
    idempotency_key: KeyHeader = None,
) -> dict[str, Any]:
    """Refund part of a captured payment. With an Idempotency-Key, a retry returns the
    same refund; without one, every call is a new refund."""
    payment_id = _payment_id(payment_id)
    payments = _payments(state, merchant_id)
    key = _key(idempotency_key, required=False)
    if key is not None:
        await payments.get_payment(payment_id)  # 404 before recording anything
        await state.idempotency.claim(
            merchant_id,
            f"refund:{payment_id}",
            key,
            body_hash(body.model_dump(mode="json")),
            payment_id,
        )
    outcome = await payments.refund(
        payment_id, body.amount_minor, reason=body.reason, request_id=key
    )
    return refund_json(outcome)
