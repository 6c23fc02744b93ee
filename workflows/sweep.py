"""SweepWorkflow: money and ledger holds that nothing else owns, found and resolved.

Run by a Temporal Schedule (paysaga.client.starts.ensure_sweep_schedule) or on demand
(`paysaga sweep`). Per gateway: list every charge created in the window (which ends a lag
bound before now: younger objects may still be booked by their workflow, and Braintree's
search lags), decide who owns each (activities/sweep.py), and void or refund what no live
workflow will. Then void ledger holds older than a bound whose workflow is closed or
missing. Everything examined is counted by reason; everything acted on or left for a
person is listed in the stored report. One failing gateway does not stop the others.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain import sweep as names
    from paysaga.domain.routing import Routing
    from paysaga.domain.sweep import (
        Action,
        ClassifyInput,
        Finding,
        Findings,
        GatewayObjects,
        ListGatewayInput,
        Reason,
        ResolveInput,
        StrandedHoldsInput,
        SweepReport,
        SweepRequest,
    )
    from workflows import policies
    from workflows.failures import classify

# Bounded: what one sweep cannot resolve, the next one finds again (every action is keyed
# by the object, so a repeat is harmless).
_RESOLVE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=6,
    non_retryable_error_types=list(policies.GATEWAY_NON_RETRYABLE),
)
_LONG = timedelta(minutes=10)
_SHORT = timedelta(seconds=60)
_HEARTBEAT = timedelta(seconds=60)


async def _gateway_call(
    routing: Routing, gateway: str, name: str, arg: object, result: type, retry: RetryPolicy
) -> object:
    return await workflow.execute_activity(
        name,
        arg,
        result_type=result,
        task_queue=routing.gateway_queue(gateway),
        start_to_close_timeout=_LONG,
        heartbeat_timeout=_HEARTBEAT if name == names.SWEEP_LIST_GATEWAY else None,
        retry_policy=retry,
    )


async def _ledger_call(routing: Routing, name: str, arg: object, result: type | None) -> object:
    return await workflow.execute_activity(
        name,
        arg,
        result_type=result,
        task_queue=routing.ledger,
        start_to_close_timeout=_LONG,
        heartbeat_timeout=_HEARTBEAT,
        retry_policy=policies.LEDGER_RETRY,
    )


@workflow.defn(name=names.SWEEP_WORKFLOW)
class SweepWorkflow:
    def __init__(self) -> None:
        self._findings: list[Finding] = []
        self._counts: dict[str, int] = {}
        self._done: list[str] = []

    def _count(self, counts: dict[str, int]) -> None:
        for reason, n in counts.items():
            self._counts[reason] = self._counts.get(reason, 0) + n

    @workflow.run
    async def run(self, request: SweepRequest) -> SweepReport:
        now = workflow.now()
        window_end = now - timedelta(seconds=request.lag_s)
        window_start = window_end - timedelta(seconds=request.lookback_s)
        sweep_id = request.sweep_id or f"sweep-{now:%Y%m%dT%H%M%S}"
        examined = 0
        step = timedelta(seconds=max(request.slice_s, 1))
        for gateway in request.gateways:
            start = window_start
            while start < window_end:
                end = min(start + step, window_end)
                examined += await self._sweep_gateway(request, gateway, start, end)
                start = end
            self._done.append(gateway)
        examined += await self._sweep_holds(request, now - timedelta(seconds=request.hold_age_s))
        report = SweepReport(
            sweep_id=sweep_id,
            started_at=now,
            window_start=window_start,
            window_end=window_end,
            gateways=request.gateways,
            examined=examined,
            findings=tuple(self._findings),
            counts=dict(self._counts),
            dry_run=request.dry_run,
        )
        await _ledger_call(request.routing, names.SWEEP_STORE_REPORT, report, None)
        return report

    async def _sweep_gateway(
        self, request: SweepRequest, gateway: str, start: datetime, end: datetime
    ) -> int:
        routing = request.routing
        try:
            listed = await _gateway_call(
                routing,
                gateway,
                names.SWEEP_LIST_GATEWAY,
                ListGatewayInput(gateway, start, end),
                GatewayObjects,
                policies.GATEWAY_READ_RETRY,
            )
            assert isinstance(listed, GatewayObjects)
            found = await _ledger_call(
                routing,
                names.SWEEP_CLASSIFY,
                ClassifyInput(gateway, listed.objects, end),
                Findings,
            )
            assert isinstance(found, Findings)
        except ActivityError as exc:
            # Reported; the next slice and gateway still run, a later sweep lists it again.
            failed = Finding(
                kind="gateway",
                gateway=gateway,
                reference="",
                payment_id="",
                amount_minor=0,
                currency="",
                reason=Reason.LISTING_FAILED,
                action=Action.MANUAL,
                detail=f"{start:%Y-%m-%d %H:%M:%S}-{end:%H:%M:%S}: {classify(exc).reason()}",
            )
            self._findings.append(failed)
            self._count({str(Reason.LISTING_FAILED): 1})
            return 0
        self._count({str(Reason.NO_MONEY): listed.no_money, **found.counts})
        for item in found.findings:
            if item.action in (Action.VOID, Action.REFUND) and not request.dry_run:
                item = await self._resolve(routing, item)
            self._findings.append(item)
        return len(listed.objects) + listed.no_money

    async def _resolve(self, routing: Routing, item: Finding) -> Finding:
        try:
            done = await _gateway_call(
                routing,
                item.gateway,
                names.SWEEP_RESOLVE_GATEWAY,
                ResolveInput(item),
                Finding,
                _RESOLVE_RETRY,
            )
        except ActivityError as exc:
            return replace(item, detail=f"not resolved: {classify(exc).reason()}")
        assert isinstance(done, Finding)
        return done

    async def _sweep_holds(self, request: SweepRequest, older_than: datetime) -> int:
        routing = request.routing
        found = await _ledger_call(
            routing,
            names.SWEEP_STRANDED_HOLDS,
            StrandedHoldsInput(older_than),
            Findings,
        )
        assert isinstance(found, Findings)
        self._count(found.counts)
        for item in found.findings:
            if not request.dry_run:
                done = await _ledger_call(
                    routing, names.SWEEP_VOID_HOLD, ResolveInput(item), Finding
                )
                assert isinstance(done, Finding)
                item = done
            self._findings.append(item)
        return sum(found.counts.values())

    @workflow.query
    def status(self) -> dict[str, object]:
        return {
            "gateways_done": list(self._done),
            "findings": len(self._findings),
            "counts": dict(self._counts),
        }
