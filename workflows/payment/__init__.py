"""The payment workflow: `PaymentWorkflow` (workflow.py) and its steps, one module per
concern, sharing a `PaymentState` (state.py)."""

from workflows.payment.workflow import PaymentWorkflow

__all__ = ["PaymentWorkflow"]
