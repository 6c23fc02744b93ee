"""The Braintree gateway's wire shapes: transactions, customers and cards as the XML
codec writes them, and a Result (status, root element, body) as an HTTP response.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from paysaga.sandbox.braintree.amounts import format_amount
from paysaga.sandbox.braintree.cards import APPROVED, PROCESSOR_TEXT, SOFT_PROCESSOR_CODES
from paysaga.sandbox.braintree.errors import ApiError
from paysaga.sandbox.braintree.model import Card, Txn
from paysaga.sandbox.braintree.xml_codec import Array, dumps


@dataclass(frozen=True)
class Result:
    """An operation's answer before it is encoded (pickled in the idempotency store)."""

    status: int
    root: str | None  # None: empty body
    body: Any = None


def error_result(exc: ApiError) -> Result:
    return Result(422, "api_error_response", exc.body())


def to_response(request: Request, result: Result) -> Response:
    if result.root is None:
        return Response(status_code=result.status)
    body = dumps(result.root, result.body)
    headers = {"Content-Type": "application/xml; charset=utf-8"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return Response(body, status_code=result.status, headers=headers)


def response_text(txn: Txn) -> str:
    if txn.status == "gateway_rejected":
        return "Gateway Rejected: " + (txn.rejection_reason or "unknown")
    if txn.processor_code == APPROVED[0]:
        return APPROVED[1]
    return PROCESSOR_TEXT.get(txn.processor_code, "Processor Declined")


def transaction(
    txn: Txn, merchant_id: str, customers: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    amount = format_amount(txn.amount_minor, txn.currency)
    code = txn.processor_code
    if code == APPROVED[0]:
        response_type = "approved"
    else:
        response_type = "soft_declined" if code in SOFT_PROCESSOR_CODES else "hard_declined"
    owner = customers.get(txn.card.customer_id or "")
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
            "user": merchant_id,
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
        "processor_response_text": response_text(txn),
        "processor_response_type": response_type,
        "gateway_rejection_reason": txn.rejection_reason,
        **settlement_response(txn),
        "refund_ids": list(txn.refund_ids),
        "refunded_transaction_id": txn.refunded_transaction_id,
        "settlement_batch_id": txn.settlement_batch_id,
        "payment_instrument_type": "credit_card",
        "customer": {
            "id": txn.card.customer_id,
            "email": owner["email"] if owner else None,
        },
        "credit_card": card(txn.card),
        "status_history": Array("status_event", history),
        "disbursement_details": disbursement,
        "add_ons": Array("add_on", []),
        "discounts": Array("discount", []),
    }


def settlement_response(txn: Txn) -> dict[str, Any]:
    """Processor settlement response 4001 for a declined settlement (sale or refund):
    https://developer.paypal.com/braintree/docs/reference/general/processor-responses/settlement-responses/
    """
    if txn.status != "settlement_declined":
        return {"processor_settlement_response_code": "", "processor_settlement_response_text": ""}
    return {
        "processor_settlement_response_code": "4001",
        "processor_settlement_response_text": "Settlement Declined",
    }


def customer(record: dict[str, Any], cards: Mapping[str, Card]) -> dict[str, Any]:
    return {
        "id": record["id"],
        "email": record["email"],
        "first_name": record["first_name"],
        "last_name": record["last_name"],
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
        "credit_cards": Array("credit_card", [card(cards[token]) for token in record["tokens"]]),
        "addresses": Array("address", []),
    }


def card(vaulted: Card) -> dict[str, Any]:
    return {
        "token": vaulted.token,
        "customer_id": vaulted.customer_id,
        "bin": vaulted.bin,
        "last_4": vaulted.last_4,
        "card_type": vaulted.card_type,
        "expiration_month": "12",
        "expiration_year": str(vaulted.created_at.year + 3),
        "expired": False,
        "default": True,
        "created_at": vaulted.created_at,
        "updated_at": vaulted.created_at,
    }
