"""Every workflow of the engine, and the activity classes per task queue."""

from __future__ import annotations

from typing import Final

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflows.baseline import BaselineWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.payment import PaymentWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.sweep import SweepWorkflow
from workflows.transfer import CrossShardTransferWorkflow

WORKFLOWS: Final[list[type]] = [
    PaymentWorkflow,
    OnboardingWorkflow,
    ReconciliationWorkflow,
    CrossShardTransferWorkflow,
    SweepWorkflow,
]

# Registered next to WORKFLOWS so benchmarks run them on the same workers; kept apart
# because the replay tests cover exactly the engine's workflows.
BENCH_WORKFLOWS: Final[list[type]] = [BaselineWorkflow]


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox, with our workflow and domain packages passed through.

    By default the sandbox re-imports a workflow's module and its non-passed-through
    imports (workflows.calls, .policies, with their dataclasses) for every workflow
    instance: ~100 ms of worker CPU per payment under cProfile, the largest single cost
    bench.payments found. These modules hold constants, functions and frozen dataclasses,
    no mutable state, so sharing them between instances is safe; the determinism of the
    code is still checked by the replay tests. `domain` must come along so the payload
    converter finds the request types' modules inside the sandbox.
    """
    restrictions = SandboxRestrictions.default.with_passthrough_modules(
        "workflows", "paysaga.domain"
    )
    return SandboxedWorkflowRunner(restrictions=restrictions)
