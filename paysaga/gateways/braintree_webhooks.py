"""Braintree webhook verification: bt_signature / bt_payload through the SDK.

The SDK checks `public_key|hex(hmac_sha1(sha1(private_key), payload))` and parses
the `<notification>`. Braintree signs no timestamp, so replay protection uses
the notification's own `<timestamp>`: older than `tolerance_s` is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import braintree
from braintree.exceptions.invalid_signature_error import InvalidSignatureError

from paysaga.config.settings import Settings
from paysaga.gateways.errors import GatewayError
from paysaga.gateways.types import GatewayName

GATEWAY = GatewayName.BRAINTREE.value
DEFAULT_TOLERANCE_S = 300.0


class WebhookSignatureInvalid(GatewayError):
    """Signature missing, forged, for another key, body tampered, or too old."""

    code = "webhook_signature_invalid"


@dataclass(frozen=True)
class BraintreeEvent:
    kind: str  # transaction_settled, transaction_settlement_declined, disbursement, ...
    timestamp: datetime
    transaction_id: str | None = None
    transaction_status: str | None = None
    order_id: str | None = None
    # sale | credit (a refund, whose order id is our refund's key) and, for a credit,
    # the sale it refunds.
    transaction_type: str | None = None
    refunded_transaction_id: str | None = None
    disbursement_id: str | None = None
    transaction_ids: list[str] = field(default_factory=list)

    @property
    def event_id(self) -> str:
        """Stable id for de-duplication (Braintree sends none of its own)."""
        subject = self.transaction_id or self.disbursement_id or ""
        return f"{self.kind}:{subject}:{self.timestamp.isoformat()}"


class BraintreeWebhookVerifier:
    """Verifies and parses notifications with one merchant's key pair."""

    def __init__(
        self,
        *,
        merchant_id: str,
        public_key: str,
        private_key: str,
        tolerance_s: float = DEFAULT_TOLERANCE_S,
    ) -> None:
        # Parsing never touches the network; the environment is irrelevant.
        config = braintree.Configuration(
            environment=braintree.Environment.Development,
            merchant_id=merchant_id,
            public_key=public_key,
            private_key=private_key,
        )
        self._gateway = braintree.BraintreeGateway(config)
        self._tolerance = timedelta(seconds=tolerance_s)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> BraintreeWebhookVerifier:
        return cls(
            merchant_id=settings.braintree_merchant_id,
            public_key=settings.braintree_public_key,
            private_key=settings.braintree_private_key.get_secret_value(),
            **overrides,
        )

    def parse(
        self,
        bt_signature: str | None,
        bt_payload: str | bytes | None,
        *,
        now: datetime | None = None,
    ) -> BraintreeEvent:
        try:
            notification = self._gateway.webhook_notification.parse(bt_signature, bt_payload)
        except InvalidSignatureError as exc:
            raise WebhookSignatureInvalid(str(exc), gateway=GATEWAY) from exc
        except Exception as exc:  # a validly signed but unparsable payload
            raise WebhookSignatureInvalid(
                f"unreadable notification: {type(exc).__name__}", gateway=GATEWAY
            ) from exc
        stamp: datetime = notification.timestamp
        stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp
        current = now or datetime.now(UTC)
        if abs(current - stamp) > self._tolerance:
            raise WebhookSignatureInvalid(
                "notification timestamp outside tolerance", gateway=GATEWAY
            )
        txn = getattr(notification, "transaction", None)
        disbursement = getattr(notification, "disbursement", None)
        return BraintreeEvent(
            kind=str(notification.kind),
            timestamp=stamp,
            transaction_id=txn.id if txn is not None else None,
            transaction_status=getattr(txn, "status", None) if txn is not None else None,
            order_id=getattr(txn, "order_id", None) if txn is not None else None,
            transaction_type=getattr(txn, "type", None) if txn is not None else None,
            refunded_transaction_id=(
                getattr(txn, "refunded_transaction_id", None) if txn is not None else None
            ),
            disbursement_id=disbursement.id if disbursement is not None else None,
            transaction_ids=list(disbursement.transaction_ids) if disbursement is not None else [],
        )
