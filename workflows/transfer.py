"""CrossShardTransferWorkflow: the ledger's two-shard protocol driven as a saga.

Pending on the source shard (from_account -> clearing), pending on the destination shard
(clearing -> to_account), then post both. Until both pendings exist, a failure voids
what was made (in reverse). Once both exist the transfer is committed (the pivot) and
only moves forward, because voiding a half-posted transfer would be wrong: the posts run
under COMPENSATION_RETRY, so transient failures (a shard down, a timeout) are retried
without limit, but a post the ledger refuses for good (a non-retryable error, e.g. the
pending expired) fails the workflow in `posting`, nothing voided, for an operator.

A transfer id whose hold was voided is finished (ledger.cross_shard): a rerun of it is
refused by the ledger at its first step and ends FAILED with AlreadyVoided, holding
nothing; a post refused as AlreadyVoided (the ledger released the other hold) ends FAILED
the same way rather than failing the workflow.
"""

from __future__ import annotations

from dataclasses import replace

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain import activity_names as names
    from paysaga.domain.errors import PaysagaError
    from paysaga.domain.failures import ErrorType
    from paysaga.domain.ledger import TransferLegInput, TransferRequest, TransferView
    from paysaga.domain.names import AMOUNT_MINOR, CURRENCY, LAST_ERROR, PAYMENT_STATUS
    from paysaga.domain.payments import StepRecord
    from paysaga.domain.status import TransferStatus
    from workflows import calls
    from workflows.failures import classify
    from workflows.saga import Saga
    from workflows.search import SearchAttributes


# Posting refused as AlreadyVoided ends FAILED (before: the workflow failed).
_VOIDED_ENDS_FAILED_PATCH = "transfer-voided-post-ends-failed"


@workflow.defn(name="CrossShardTransferWorkflow")
class CrossShardTransferWorkflow:
    @workflow.init
    def __init__(self, request: TransferRequest) -> None:
        self._request = request
        self._view = TransferView(transfer_id=request.transfer_id, status=TransferStatus.PENDING)
        self._search = SearchAttributes()

    def _set(
        self, status: TransferStatus | None = None, detail: str = "", **changes: object
    ) -> None:
        if status is not None:
            step = StepRecord(f"status:{status}", workflow.now(), detail)
            changes = {"status": status, "steps": (*self._view.steps, step), **changes}
        self._view = replace(self._view, **changes)  # type: ignore[arg-type]
        self._search.upsert(
            {
                PAYMENT_STATUS: str(self._view.status),
                AMOUNT_MINOR: self._request.amount_minor,
                CURRENCY: self._request.currency,
                LAST_ERROR: self._view.last_error,
            }
        )

    def _leg(self, side: str, entry_id: str | None = None) -> TransferLegInput:
        r = self._request
        return TransferLegInput(
            transfer_id=r.transfer_id,
            side=side,  # type: ignore[arg-type]
            from_account=r.from_account,
            to_account=r.to_account,
            amount_minor=r.amount_minor,
            currency=r.currency,
            entry_id=entry_id,
        )

    @workflow.run
    async def run(self, request: TransferRequest) -> TransferView:
        self._set(TransferStatus.PENDING)
        try:
            request.validate()
        except PaysagaError as exc:
            self._set(TransferStatus.FAILED, last_error=f"{exc.code}: {exc.message}")
            return self._view
        routing = request.routing
        saga = Saga()
        try:
            self._set(TransferStatus.HOLDING)
            saga.add("void_source", lambda: self._void("source"))
            source = await calls.transfer_leg(routing, names.TRANSFER_PENDING, self._leg("source"))
            self._set(source_entry_id=source.entry_id)
            saga.add("void_destination", lambda: self._void("destination"))
            destination = await calls.transfer_leg(
                routing, names.TRANSFER_PENDING, self._leg("destination")
            )
            self._set(destination_entry_id=destination.entry_id)
        except ActivityError as exc:
            reason = classify(exc).reason()
            self._set(TransferStatus.COMPENSATING, reason, last_error=reason)
            await saga.compensate()
            self._set(TransferStatus.FAILED, ", ".join(saga.compensated))
            return self._view
        # Pivot: both halves are held; from here on we only move forward.
        saga.clear()
        self._set(TransferStatus.POSTING)
        try:
            for side, entry_id in (
                ("source", source.entry_id),
                ("destination", destination.entry_id),
            ):
                await calls.transfer_leg(
                    routing, names.TRANSFER_POST, self._leg(side, entry_id), compensating=True
                )
        except ActivityError as exc:
            failure = classify(exc)
            if failure.type != ErrorType.ALREADY_VOIDED or not workflow.patched(
                _VOIDED_ENDS_FAILED_PATCH
            ):
                raise
            # The ledger posted nothing and released what was still held.
            self._set(TransferStatus.FAILED, failure.reason(), last_error=failure.reason())
            return self._view
        self._set(TransferStatus.COMPLETED, last_error=None)
        return self._view

    async def _void(self, side: str) -> None:
        entry_id = (
            self._view.source_entry_id if side == "source" else self._view.destination_entry_id
        )
        # Void by transfer id even without an entry id: the pending call may have landed
        # before its activity failed; the ledger finds it by its idempotency key.
        await calls.transfer_leg(
            self._request.routing,
            names.TRANSFER_VOID,
            self._leg(side, entry_id),
            compensating=True,
        )
        self._set(detail=f"voided {side}")

    @workflow.query
    def status(self) -> TransferView:
        return self._view
