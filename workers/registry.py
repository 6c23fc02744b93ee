"""Every workflow of the engine, and the activity classes per task queue."""

from __future__ import annotations

from typing import Final

from workflows.baseline import BaselineWorkflow
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

# Registered next to WORKFLOWS so benchmarks run them on the same workers; kept apart
# because the replay tests cover exactly the engine's workflows.
BENCH_WORKFLOWS: Final[list[type]] = [BaselineWorkflow]
