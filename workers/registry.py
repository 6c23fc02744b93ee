"""Every workflow of the engine, and the activity classes per task queue."""

from __future__ import annotations

from typing import Final

from workflows.onboarding import OnboardingWorkflow
from workflows.payment import PaymentWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.transfer import CrossShardTransferWorkflow

WORKFLOWS: Final[list[type]] = [
    PaymentWorkflow,
    OnboardingWorkflow,
    ReconciliationWorkflow,
    CrossShardTransferWorkflow,
]
