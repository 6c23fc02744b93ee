"""LedgerActivities: the payment engine's postings on the sharded ledger.

Every write carries the workflow's idempotency key, so an activity retry returns the
first result. Entries carry metadata (payment_id, gateway, gateway_reference, kind)
that reconciliation searches.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from temporalio import activity

from activities import chart
from activities.chart import AccountDef, Chart
from activities.errors import translated
from ledger.errors import AlreadyVoided
from ledger.service import Ledger
from ledger.types import CrossShardTransfer, EntryRequest, EntryResult, Leg
from paysaga.domain import activity_names as names
from paysaga.domain.ledger import (
    LedgerCaptureInput,
    LedgerEntryRef,
    LedgerHoldInput,
    LedgerReversalInput,
    LedgerVoidInput,
    TransferLegInput,
)
from paysaga.domain.onboarding import OpenAccountsInput, OpenAccountsResult

log = structlog.get_logger()


def _ref(result: EntryResult) -> LedgerEntryRef:
    return LedgerEntryRef(entry_id=result.entry_id, shard=result.shard)


class LedgerActivities:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.chart = Chart(ledger)

    def activities(self) -> list[Callable[..., object]]:
        return [
            self.hold,
            self.void,
            self.capture,
            self.reverse,
            self.transfer_pending,
            self.transfer_post,
            self.transfer_void,
            self.open_customer_accounts,
        ]

    async def _post_charge(
        self,
        request: LedgerHoldInput | LedgerCaptureInput,
        *,
        pending: bool,
        description: str,
        metadata: dict[str, str],
    ) -> EntryResult:
        """The charge entry: the gateway owes us, we owe the merchant (held or posted)."""
        receivable, payable = await self.chart.payment_accounts(
            request.merchant_id, request.gateway, request.currency
        )
        return await self.ledger.post_entry(
            EntryRequest(
                idempotency_key=request.idempotency_key,
                legs=(
                    Leg(receivable, "debit", request.amount_minor, request.currency),
                    Leg(payable, "credit", request.amount_minor, request.currency),
                ),
                pending=pending,
                description=description,
                metadata={
                    "payment_id": request.payment_id,
                    "gateway": request.gateway,
                    "kind": "charge",
                    **metadata,
                },
            )
        )

    @activity.defn(name=names.LEDGER_HOLD)
    async def hold(self, request: LedgerHoldInput) -> LedgerEntryRef:
        with translated():
            result = await self._post_charge(
                request,
                pending=True,
                description="payment hold",
                metadata={"merchant_id": request.merchant_id},
            )
        log.info("ledger.hold", payment_id=request.payment_id, entry_id=result.entry_id)
        return _ref(result)

    @activity.defn(name=names.LEDGER_VOID)
    async def void(self, request: LedgerVoidInput) -> None:
        with translated():
            try:
                await self.ledger.void_pending(request.entry_id, request.idempotency_key)
            except AlreadyVoided:
                return  # compensations are idempotent
        log.info("ledger.void", payment_id=request.payment_id, entry_id=request.entry_id)

    @activity.defn(name=names.LEDGER_CAPTURE)
    async def capture(self, request: LedgerCaptureInput) -> LedgerEntryRef:
        with translated():
            if request.hold_entry_id is not None:
                # Posts the hold for the captured amount; the rest is released. The posted
                # entry inherits the hold's metadata (payment_id, gateway, kind=charge).
                result = await self.ledger.post_pending(
                    request.hold_entry_id, request.idempotency_key, request.amount_minor
                )
            else:
                metadata = {"gateway_reference": request.gateway_reference, "kind": request.kind}
                if request.refund_reference:
                    metadata["refund_reference"] = request.refund_reference
                result = await self._post_charge(
                    request,
                    pending=False,
                    description="payment capture"
                    if request.kind == "charge"
                    else "refund failed at the gateway",
                    metadata=metadata,
                )
        log.info("ledger.capture", payment_id=request.payment_id, entry_id=result.entry_id)
        return _ref(result)

    @activity.defn(name=names.LEDGER_REVERSE)
    async def reverse(self, request: LedgerReversalInput) -> LedgerEntryRef:
        metadata = {
            "payment_id": request.payment_id,
            "gateway": request.gateway,
            "gateway_reference": request.gateway_reference,
            "kind": request.reason,
        }
        if request.refund_reference:
            metadata["refund_reference"] = request.refund_reference
        with translated():
            entry_id = request.entry_id
            if entry_id is None:
                found = [
                    e
                    for e in await self.ledger.find_entries("payment_id", request.payment_id)
                    if e.kind in ("post_pending", "standard")
                ]
                entry_id = found[0].entry_id
            result = await self.ledger.reverse_entry(
                entry_id, request.idempotency_key, request.amount_minor, metadata
            )
        log.info("ledger.reverse", payment_id=request.payment_id, entry_id=result.entry_id)
        return _ref(result)

    # ---------------------------------------------------------------- cross-shard

    @staticmethod
    def _transfer(request: TransferLegInput) -> CrossShardTransfer:
        return CrossShardTransfer(
            transfer_id=request.transfer_id,
            source_account=request.from_account,
            destination_account=request.to_account,
            amount_minor=request.amount_minor,
            currency=request.currency,
        )

    @activity.defn(name=names.TRANSFER_PENDING)
    async def transfer_pending(self, request: TransferLegInput) -> LedgerEntryRef:
        transfer = self._transfer(request)
        with translated():
            if request.side == "source":
                return _ref(await self.ledger.hold_source(transfer))
            return _ref(await self.ledger.hold_target(transfer))

    @activity.defn(name=names.TRANSFER_POST)
    async def transfer_post(self, request: TransferLegInput) -> LedgerEntryRef:
        # The ledger posts both holds in one idempotent call; the second side replays.
        with translated():
            holds = await self.ledger.post_cross_shard(self._transfer(request))
        return _ref(holds.source if request.side == "source" else holds.target)

    @activity.defn(name=names.TRANSFER_VOID)
    async def transfer_void(self, request: TransferLegInput) -> LedgerEntryRef:
        with translated():
            voided = await self.ledger.void_cross_shard(self._transfer(request))
        return LedgerEntryRef(entry_id=voided[0].entry_id if voided else "")

    @activity.defn(name=names.OPEN_CUSTOMER_ACCOUNTS)
    async def open_customer_accounts(self, request: OpenAccountsInput) -> OpenAccountsResult:
        # Named per merchant: two merchants' `cust-shared` are two customers.
        merchant, customer, currency = request.merchant_id, request.customer_id, request.currency
        receivable = chart.customer_receivable(merchant, customer, currency)
        balance = chart.customer_balance(merchant, customer, currency)
        with translated():
            await self.chart.ensure(
                AccountDef(receivable, request.currency, "debit"),
                AccountDef(balance, request.currency, "credit"),
            )
        return OpenAccountsResult(accounts=(receivable, balance))
