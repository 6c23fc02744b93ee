"""PaysagaClient's payments: create, read, wait, capture, cancel, refund, list."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import WorkflowExecution, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from paysaga.client import starts
from paysaga.client import workflow_refs as wf
from paysaga.client.base import QUERY_TIMEOUT, UPDATE_TIMEOUT, ClientBase, poll
from paysaga.client.control.bank_accounts import usable_for
from paysaga.client.errors import PaymentNotFound, ServiceUnavailable
from paysaga.client.ids import CUSTOMER_ID_RE, check, merchant_of_payment, payment_id_for
from paysaga.client.temporal_errors import call, unavailable
from paysaga.client.types import PaymentSummary
from paysaga.domain.errors import PaysagaError, ValidationError
from paysaga.domain.names import (
    AMOUNT_MINOR,
    CURRENCY,
    CUSTOMER_ID,
    GATEWAY,
    LAST_ERROR,
    MERCHANT_ID,
    PAYMENT_STATUS,
    payment_workflow_id,
)
from paysaga.domain.pan import refuse_card_numbers
from paysaga.domain.payments import (
    CancelRequest,
    CaptureRequest,
    MethodType,
    PaymentOptions,
    PaymentRequest,
    PaymentView,
)
from paysaga.domain.refunds import RefundOutcome, RefundRequest
from paysaga.domain.status import PaymentStatus

log = structlog.get_logger(__name__)

FIRST_QUERY_TIMEOUT = timedelta(seconds=3)

# Statuses a freshly started payment passes through before anything is decided.
UNSETTLED = frozenset({PaymentStatus.PENDING, PaymentStatus.AUTHORIZING})


class PaymentsMixin(ClientBase):
    async def create_payment(
        self,
        *,
        idempotency_key: str,
        amount_minor: int,
        currency: str,
        customer_id: str,
        payment_method: str | None = None,
        method_type: MethodType = "card",
        capture: bool = True,
        gateway: str | None = None,
        description: str = "",
        wait: timedelta | None = None,
        options: PaymentOptions | None = None,
        bank_account_id: str | None = None,
        balance_check: bool = False,
    ) -> PaymentView:
        """Start the payment's workflow; the same key returns the same payment.

        A card payment names its `payment_method` (pm_... / nonce); an ACH debit names
        the customer's onboarded `bank_account_id` (bank_...), whose gateway customer and
        bank account the client looks up itself. A bank account that is not this
        merchant's (BankAccountNotFound), not this customer's (BankAccountNotCustomers),
        disabled or unverified is refused before anything starts. `balance_check` asks
        Plaid for the account's balance before the debit (decline
        `insufficient_funds_precheck` when it is short).

        `options` overrides timings per payment (dunning schedule, authorization expiry).

        The same key with a different request raises IdempotencyConflict. With `wait`,
        returns once the payment left pending/authorizing (or the wait is over).
        """
        merchant_id = self._merchant()
        payment_id = payment_id_for(merchant_id, idempotency_key)
        check(CUSTOMER_ID_RE, customer_id, "customer_id", "customer id")
        options = options or PaymentOptions()
        if balance_check:
            options = replace(options, balance_check=True)
        request = PaymentRequest(
            idempotency_key=payment_id.removeprefix("payment-"),
            merchant_id=merchant_id,
            customer_id=customer_id,
            amount_minor=amount_minor,
            currency=currency,
            payment_method=payment_method or "",
            method_type=method_type,
            capture_mode="automatic" if capture else "manual",
            preferred_gateway=gateway,
            description=description,
            routing=self.routing,
            options=options,
        )
        if bank_account_id is not None:
            bank_request = await self._bank_debit(request, bank_account_id, payment_method)
            if isinstance(bank_request, PaymentView):
                return bank_request  # a replay of a payment started earlier
            request = bank_request
        elif method_type == "ach":
            raise ValidationError(
                "an ACH debit names the customer's onboarded bank account (bank_account_id)",
                field="bank_account_id",
            )
        request.validate()
        started = await starts.start_payment(
            self.temporal, request, task_queue=self.task_queue, eager_start=self.eager_start
        )
        event = "payment.started" if started.created else "payment.replayed"
        log.info(event, payment_id=payment_id, merchant_id=merchant_id)
        if wait is not None:
            return await self.wait_for_payment(
                payment_id, lambda v: v.status not in UNSETTLED, wait
            )
        if started.created:
            # Just started: pending by construction. A query here would cost the server a
            # query task and the worker a decode per payment to say the same thing.
            return PaymentView.pending(payment_id, request)
        try:
            return await self.get_payment(payment_id, timeout=FIRST_QUERY_TIMEOUT)
        except ServiceUnavailable:
            # Started, but no worker has run it yet: it is pending, which is the truth.
            return PaymentView.pending(payment_id, request)

    async def _bank_debit(
        self, request: PaymentRequest, bank_account_id: str, payment_method: str | None
    ) -> PaymentRequest | PaymentView:
        """The ACH request drawing on the bank account, or the payment this key already
        started (its replay: the account may have been disabled since)."""
        if payment_method:
            raise ValidationError(
                "give either payment_method or bank_account_id, not both", field="payment_method"
            )
        if request.preferred_gateway not in (None, "stripe"):
            raise ValidationError("a bank account is debited through Stripe (ACH)", field="gateway")
        if request.capture_mode == "manual":
            raise ValidationError("ACH debits cannot be captured later", field="capture")
        account = await self._bank_accounts().get(request.merchant_id, bank_account_id)
        debit = replace(
            request,
            method_type="ach",
            payment_method=account.payment_method_ref,
            customer_ref=account.gateway_customer_ref,
            preferred_gateway=account.gateway,
            bank_account=account.ref(),
        )
        try:
            usable_for(account, request.customer_id)
        except PaysagaError:
            started = await self._started_with(debit)
            if started is None:
                raise
            return started
        return debit

    async def _started_with(self, request: PaymentRequest) -> PaymentView | None:
        """The payment of this key if it was started with exactly `request`, else None."""
        payment_id = payment_workflow_id(request.idempotency_key)
        try:
            description = await self.temporal.get_workflow_handle(payment_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise unavailable(exc) from exc
        digest = await description.memo_value(starts.REQUEST_HASH_MEMO, default=None)
        if digest != starts.request_digest(request):
            return None
        return await self.get_payment(payment_id)

    def _payment_handle(self, payment_id: str) -> WorkflowHandle[Any, Any]:
        """The payment's handle if it is this merchant's; otherwise not found."""
        return self._owned_handle(
            payment_id,
            merchant_of_payment,
            lambda shown: PaymentNotFound(f"no payment {shown!r}", field="payment_id"),
        )

    async def get_payment(
        self, payment_id: str, *, timeout: timedelta = QUERY_TIMEOUT
    ) -> PaymentView:
        handle = self._payment_handle(payment_id)
        view: PaymentView = await call(
            lambda: handle.query(wf.STATUS_QUERY, result_type=PaymentView, rpc_timeout=timeout),
            payment_id,
        )
        if self.merchant_id is not None and view.merchant_id != self.merchant_id:
            raise PaymentNotFound(f"no payment {payment_id!r}", field="payment_id")
        return view

    async def wait_for_payment(
        self,
        payment_id: str,
        done: Callable[[PaymentView], bool],
        timeout: timedelta,
        interval: float = 0.2,
    ) -> PaymentView:
        """Poll the status query until `done(view)` or the timeout; returns the last view."""
        return await poll(lambda: self.get_payment(payment_id), done, timeout, interval)

    async def capture(
        self, payment_id: str, amount_minor: int | None = None, *, request_id: str | None = None
    ) -> PaymentView:
        """Capture an authorized payment (all of it by default). Repeating is harmless."""
        request = CaptureRequest(request_id=request_id or "capture", amount_minor=amount_minor)
        return await self._update_then_view(
            payment_id, wf.CAPTURE_UPDATE, request, f"capture-{request.request_id}"
        )

    async def cancel(
        self,
        payment_id: str,
        reason: str = "requested_by_customer",
        *,
        request_id: str | None = None,
    ) -> PaymentView:
        """Cancel a payment not captured yet, through the `cancel` update: the workflow
        compensates (voids the ledger hold, cancels the authorization at the gateway) and
        ends canceled."""
        request = CancelRequest(request_id=request_id or "cancel", reason=reason)
        return await self._update_then_view(
            payment_id, wf.CANCEL_UPDATE, request, f"cancel-{request.request_id}"
        )

    async def _update_then_view(
        self, payment_id: str, update: str, request: object, update_id: str
    ) -> PaymentView:
        refuse_card_numbers(request)  # its request id becomes the update id
        handle = self._payment_handle(payment_id)
        await self.get_payment(payment_id)  # ownership check before acting
        await call(
            lambda: handle.execute_update(
                update, request, id=update_id, rpc_timeout=UPDATE_TIMEOUT
            ),
            payment_id,
        )
        return await self.get_payment(payment_id)

    async def refund(
        self,
        payment_id: str,
        amount_minor: int,
        *,
        reason: str = "",
        request_id: str | None = None,
    ) -> RefundOutcome:
        """Refund part or all of a captured payment.

        `request_id` makes the refund idempotent (the update id); without one each
        call is a new refund.
        """
        handle = self._payment_handle(payment_id)
        view = await self.get_payment(payment_id)
        request = RefundRequest(
            request_id=request_id or uuid.uuid4().hex,
            amount_minor=amount_minor,
            currency=view.currency,
            reason=reason,
        )
        refuse_card_numbers(request)  # before anything reaches the workflow
        outcome: RefundOutcome = await call(
            lambda: handle.execute_update(
                wf.REFUND_UPDATE,
                request,
                id=f"refund-{request.request_id}",
                result_type=RefundOutcome,
                rpc_timeout=UPDATE_TIMEOUT,
            ),
            payment_id,
        )
        return outcome

    async def list_payments(
        self,
        *,
        status: str | None = None,
        customer: str | None = None,
        limit: int = 100,
    ) -> list[PaymentSummary]:
        """Payments from visibility (search attributes), newest first."""
        clauses = [f"WorkflowType = '{wf.PAYMENT_WORKFLOW}'"]
        if self.merchant_id is not None:
            clauses.append(f"MerchantId = '{self.merchant_id}'")
        if status is not None:
            if status not in PaymentStatus.__members__.values():
                raise ValidationError(f"unknown status {status[:50]!r}", field="status")
            clauses.append(f"PaymentStatus = '{status}'")
        if customer is not None:
            check(CUSTOMER_ID_RE, customer, "customer", "customer id")
            clauses.append(f"CustomerId = '{customer}'")
        if not 1 <= limit <= 1000:
            raise ValidationError("limit must be between 1 and 1000", field="limit")
        query = " AND ".join(clauses)
        try:
            return [
                _summary(execution)
                async for execution in self.temporal.list_workflows(query, limit=limit)
            ]
        except RPCError as exc:
            raise unavailable(exc) from exc


def _summary(execution: WorkflowExecution) -> PaymentSummary:
    attrs = execution.typed_search_attributes
    return PaymentSummary(
        payment_id=execution.id,
        status=attrs.get(PAYMENT_STATUS),
        amount_minor=attrs.get(AMOUNT_MINOR),
        currency=attrs.get(CURRENCY),
        customer_id=attrs.get(CUSTOMER_ID),
        gateway=attrs.get(GATEWAY),
        merchant_id=attrs.get(MERCHANT_ID),
        last_error=attrs.get(LAST_ERROR),
        started_at=execution.start_time,
        running=execution.close_time is None,
    )
