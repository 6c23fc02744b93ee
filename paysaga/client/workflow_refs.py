"""Names under which the workflow layer registers its workflows, updates, signals, queries.

The client calls them by name, so it never imports workflow code.
"""

from __future__ import annotations

from typing import Final

PAYMENT_WORKFLOW: Final = "PaymentWorkflow"
ONBOARDING_WORKFLOW: Final = "OnboardingWorkflow"
RECONCILIATION_WORKFLOW: Final = "ReconciliationWorkflow"
TRANSFER_WORKFLOW: Final = "CrossShardTransferWorkflow"

STATUS_QUERY: Final = "status"
CAPTURE_UPDATE: Final = "capture"
CANCEL_UPDATE: Final = "cancel"
REFUND_UPDATE: Final = "refund"
GATEWAY_EVENT_SIGNAL: Final = "gateway_event"
PUBLIC_TOKEN_UPDATE: Final = "submit_public_token"  # noqa: S105 (a name)
