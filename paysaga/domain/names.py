"""Task queues, workflow id schemes and search-attribute keys."""

from __future__ import annotations

from typing import Final

from temporalio.common import SearchAttributeKey

PAYMENTS_TASK_QUEUE: Final = "paysaga-payments"
GATEWAYS_TASK_QUEUE: Final = "paysaga-gateways"
LEDGER_TASK_QUEUE: Final = "paysaga-ledger"
ALL_TASK_QUEUES: Final = (PAYMENTS_TASK_QUEUE, GATEWAYS_TASK_QUEUE, LEDGER_TASK_QUEUE)

# Custom search attributes registered on the namespace: name -> Temporal type.
SEARCH_ATTRIBUTES: Final[dict[str, str]] = {
    "PaymentStatus": "Keyword",
    "Gateway": "Keyword",
    "AmountMinor": "Int",
    "Currency": "Keyword",
    "CustomerId": "Keyword",
    "MerchantId": "Keyword",
    "LastError": "Text",
}
# The same, as typed keys: set when a workflow starts, upserted by it, read from visibility.
PAYMENT_STATUS: Final = SearchAttributeKey.for_keyword("PaymentStatus")
GATEWAY: Final = SearchAttributeKey.for_keyword("Gateway")
AMOUNT_MINOR: Final = SearchAttributeKey.for_int("AmountMinor")
CURRENCY: Final = SearchAttributeKey.for_keyword("Currency")
CUSTOMER_ID: Final = SearchAttributeKey.for_keyword("CustomerId")
MERCHANT_ID: Final = SearchAttributeKey.for_keyword("MerchantId")
LAST_ERROR: Final = SearchAttributeKey.for_text("LastError")


def payment_workflow_id(idempotency_key: str) -> str:
    return f"payment-{idempotency_key}"


def gateway_idempotency_key(workflow_id: str, step: str) -> str:
    """Stable across activity retries: the same step of the same workflow reuses it."""
    return f"{workflow_id}:{step}"
