"""ACH debits: wait for settlement (the webhook, else ask the gateway after each wait),
and apply a return, which reverses what is left of the captured amount in the ledger.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.gateways import GatewayLookupInput
    from paysaga.domain.status import PaymentStatus
    from workflows import calls, policies

from workflows.payment.postings import reverse_capture
from workflows.payment.state import PaymentState


async def await_settlement(state: PaymentState) -> None:
    state.set_status(PaymentStatus.PROCESSING)
    wait = policies.ach_settlement_wait(state.request.options)
    while True:
        try:
            await workflow.wait_condition(
                lambda: state.ach_settled or state.ach_return is not None, timeout=wait
            )
        except TimeoutError:
            # No webhook in the expected window: ask the gateway.
            view = state.view
            assert view.gateway is not None
            found = await calls.lookup(
                state.routing,
                GatewayLookupInput(view.gateway, state.payment_id, view.reference),
            )
            status = found.payment.state if found.payment else "missing"
            state.step("ach_status_checked", status)
            if status == "settled":
                state.ach_settled = True
            elif status == "failed" and found.payment:
                code = found.payment.decline_code or "unknown"
                await apply_return(state, code, "lookup")
                return
            else:
                continue
        if state.ach_return is not None:
            await apply_pending_return(state)
            return
        state.set_status(PaymentStatus.SETTLED)
        return


async def apply_pending_return(state: PaymentState) -> None:
    """Apply the return that a webhook reported."""
    event = state.ach_return
    assert event is not None
    await apply_return(state, event.data.get("return_code", "R01"), event.event_id)


async def apply_return(state: PaymentState, return_code: str, source: str) -> None:
    async with state.lock:
        view = state.view
        remaining = view.captured_minor - view.refunded_minor
        if remaining > 0:
            entry = await reverse_capture(state, "ach-return", remaining, "ach_return")
            state.step("ledger_reversal", f"{entry.entry_id} ach return {return_code}")
        state.set_status(PaymentStatus.RETURNED, last_error=f"ach_return: {return_code} ({source})")
