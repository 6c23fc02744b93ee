"""OnboardingWorkflow: link a customer's bank account through Plaid, then record it as the
bank account (`bank_...`) that payments name.

Waits (days if need be) for the public token delivered by the `submit_public_token`
Update, reminding the customer on a timer and expiring after a deadline. The Plaid access
token never enters history: the exchange activity stores it encrypted and returns a
reference id. Cancellable by the `cancel` Update or by cancelling the workflow.

Runs started before bank-account records (no `_BANK_ACCOUNT_PATCH` marker) replay as they
ran: they opened two customer ledger accounts instead, which nothing ever posted to.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from paysaga.domain.accounts import merchant_of_onboarding
    from paysaga.domain.bank_accounts import (
        BankAccountStatus,
        NameMatch,
        RecordBankAccountInput,
        bank_account_id_for,
    )
    from paysaga.domain.errors import PaysagaError
    from paysaga.domain.names import CUSTOMER_ID, LAST_ERROR, PAYMENT_STATUS
    from paysaga.domain.onboarding import (
        BankAccountInput,
        BankVerification,
        ExchangeInput,
        ExchangeResult,
        LinkTokenInput,
        OnboardingRequest,
        OnboardingView,
        OpenAccountsInput,
        PublicTokenSubmission,
        ReminderInput,
        VerifyInput,
        match_owner_name,
        names_match,
    )
    from paysaga.domain.pan import CardNumberNotAccepted, refuse_card_numbers
    from paysaga.domain.payments import StepRecord
    from paysaga.domain.status import OnboardingStatus
    from workflows import calls, policies
    from workflows.failures import classify
    from workflows.search import SearchAttributes

# Customer accounts are named per merchant (paysaga.domain.accounts); histories that
# opened them before keep their input, so they replay unchanged.
_MERCHANT_ACCOUNTS_PATCH = "customer-accounts-per-merchant"
# From this patch on an onboarding records its bank account (paysaga.domain.bank_accounts)
# and opens no customer ledger accounts (bank debits book against the gateway's
# receivable and the merchant's payable; nothing ever posted to the customer accounts).
# An account whose bank returned no owner name is recorded unverified instead of failing.
_BANK_ACCOUNT_PATCH = "onboarding-records-bank-account"

_FINAL = frozenset(
    {
        OnboardingStatus.COMPLETED,
        OnboardingStatus.EXPIRED,
        OnboardingStatus.CANCELED,
        OnboardingStatus.FAILED,
    }
)


# Runs from this patch on fail a request holding a card number; histories recorded
# before it replay as they ran. Asked only when a request holds one (no marker otherwise).
REFUSE_CARD_NUMBERS_PATCH = "refuse-card-numbers"


def _validate(request: OnboardingRequest) -> None:
    try:
        request.validate()
    except CardNumberNotAccepted:
        if workflow.patched(REFUSE_CARD_NUMBERS_PATCH):
            raise
        request.validate(card_numbers=False)


class _Stop(Exception):
    def __init__(self, status: OnboardingStatus, reason: str | None) -> None:
        super().__init__(reason or str(status))
        self.status = status
        self.reason = reason


@workflow.defn(name="OnboardingWorkflow")
class OnboardingWorkflow:
    @workflow.init
    def __init__(self, request: OnboardingRequest) -> None:
        self._request = request
        self._view = OnboardingView(
            onboarding_id=request.onboarding_id,
            customer_id=request.customer_id,
            status=OnboardingStatus.CREATING_LINK,
        )
        self._search = SearchAttributes()
        self._submission: PublicTokenSubmission | None = None
        self._cancel_reason: str | None = None

    def _set(self, status: OnboardingStatus | None = None, **changes: object) -> None:
        if status is not None:
            step = StepRecord(f"status:{status}", workflow.now())
            changes = {"status": status, "steps": (*self._view.steps, step), **changes}
        self._view = replace(self._view, **changes)  # type: ignore[arg-type]
        self._search.upsert(
            {
                PAYMENT_STATUS: str(self._view.status),
                CUSTOMER_ID: self._view.customer_id,
                LAST_ERROR: self._view.last_error,
            }
        )

    @workflow.run
    async def run(self, request: OnboardingRequest) -> OnboardingView:
        try:
            _validate(request)
            await self._onboard()
        except PaysagaError as exc:
            self._set(OnboardingStatus.FAILED, last_error=f"{exc.code}: {exc.message}")
        except _Stop as stop:
            self._set(stop.status, last_error=stop.reason)
        except ActivityError as exc:
            self._set(OnboardingStatus.FAILED, last_error=classify(exc).reason())
        except asyncio.CancelledError:
            self._set(OnboardingStatus.CANCELED, last_error="workflow canceled")
            raise
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    async def _onboard(self) -> None:
        request, routing = self._request, self._request.routing
        link = await calls.plaid_link_token(
            routing,
            LinkTokenInput(
                request.onboarding_id, request.customer_id, request.legal_name, request.email
            ),
        )
        expires_at = workflow.now() + policies.onboarding_expiry(request.options)
        self._set(
            OnboardingStatus.AWAITING_PUBLIC_TOKEN,
            link_token=link.link_token,
            expires_at=expires_at,
        )
        submission = await self._wait_for_public_token(expires_at)

        self._set(OnboardingStatus.EXCHANGING)
        exchanged = await calls.plaid_exchange(
            routing, ExchangeInput(request.onboarding_id, submission.public_token)
        )
        self._set(OnboardingStatus.VERIFYING, item_id=exchanged.item_id)
        verification = await calls.plaid_verify(
            routing,
            VerifyInput(request.onboarding_id, exchanged.access_token_ref, submission.account_id),
        )
        records = workflow.patched(_BANK_ACCOUNT_PATCH)
        if not verification.has_ach_numbers:
            raise _Stop(OnboardingStatus.FAILED, "the account has no ACH numbers")
        if records:
            await self._link_and_record(exchanged, verification)
            return
        if not names_match(request.legal_name, verification.owner_names):
            raise _Stop(OnboardingStatus.FAILED, "account owner name does not match the customer")

        self._set(OnboardingStatus.LINKING_BANK_ACCOUNT)
        bank = await calls.plaid_bank_account(
            routing,
            BankAccountInput(
                onboarding_id=request.onboarding_id,
                customer_id=request.customer_id,
                legal_name=request.legal_name,
                email=request.email,
                access_token_ref=exchanged.access_token_ref,
                account_id=verification.account_id,
            ),
        )
        self._set(
            OnboardingStatus.OPENING_ACCOUNTS,
            bank_account_ref=bank.bank_account_ref,
            customer_ref=bank.customer_ref,
        )
        merchant_id = None
        if workflow.patched(_MERCHANT_ACCOUNTS_PATCH):
            merchant_id = merchant_of_onboarding(request.onboarding_id)
        opened = await calls.open_customer_accounts(
            routing, OpenAccountsInput(request.customer_id, request.currency, merchant_id)
        )
        self._set(OnboardingStatus.COMPLETED, accounts=opened.accounts, last_error=None)

    async def _link_and_record(
        self, exchanged: ExchangeResult, verification: BankVerification
    ) -> None:
        """The Stripe bank account (processor token), then its record for payments."""
        request, routing = self._request, self._request.routing
        merchant_id = merchant_of_onboarding(request.onboarding_id)
        match = match_owner_name(request.legal_name, verification.owner_names)
        if match == NameMatch.MISMATCH:
            raise _Stop(OnboardingStatus.FAILED, "account owner name does not match the customer")
        if match == NameMatch.UNAVAILABLE and merchant_id is None:
            # Nothing could hold the account as unverified for a later check.
            raise _Stop(OnboardingStatus.FAILED, "the bank returned no account owner name")
        self._set(OnboardingStatus.LINKING_BANK_ACCOUNT, owner_name_match=str(match))
        bank = await calls.plaid_bank_account(
            routing,
            BankAccountInput(
                onboarding_id=request.onboarding_id,
                customer_id=request.customer_id,
                legal_name=request.legal_name,
                email=request.email,
                access_token_ref=exchanged.access_token_ref,
                account_id=verification.account_id,
            ),
        )
        self._set(bank_account_ref=bank.bank_account_ref, customer_ref=bank.customer_ref)
        if merchant_id is None:  # not a merchant's (tests, tools): nothing to record
            self._set(OnboardingStatus.COMPLETED, last_error=None)
            return
        verified = match in (NameMatch.EXACT, NameMatch.PARTIAL)
        status = BankAccountStatus.VERIFIED if verified else BankAccountStatus.UNVERIFIED
        recorded = await calls.record_bank_account(
            routing,
            RecordBankAccountInput(
                bank_account_id=bank_account_id_for(request.onboarding_id),
                onboarding_id=request.onboarding_id,
                merchant_id=merchant_id,
                customer_id=request.customer_id,
                currency=request.currency,
                gateway="stripe",
                gateway_customer_ref=bank.customer_ref,
                payment_method_ref=bank.bank_account_ref,
                plaid_item_id=exchanged.item_id,
                plaid_account_id=verification.account_id,
                plaid_access_token_ref=exchanged.access_token_ref,
                last4="".join(ch for ch in verification.mask if ch.isalnum())[-4:],
                institution_name=verification.institution_name,
                account_subtype=verification.subtype,
                owner_name_match=str(match),
                status=str(status),
            ),
        )
        self._set(
            OnboardingStatus.COMPLETED,
            bank_account_id=recorded.bank_account_id,
            bank_account_status=recorded.status,
            last_error=None,
        )

    async def _wait_for_public_token(self, expires_at: object) -> PublicTokenSubmission:
        assert self._view.expires_at is not None
        interval = policies.onboarding_reminder(self._request.options)
        while True:
            remaining = self._view.expires_at - workflow.now()
            if remaining.total_seconds() <= 0:
                raise _Stop(OnboardingStatus.EXPIRED, "no bank account linked before expiry")
            try:
                await workflow.wait_condition(
                    lambda: self._submission is not None or self._cancel_reason is not None,
                    timeout=min(interval, remaining),
                )
            except TimeoutError:
                if interval < remaining:
                    number = self._view.reminders_sent + 1
                    await calls.plaid_remind(
                        self._request.routing,
                        ReminderInput(
                            self._request.onboarding_id, self._request.customer_id, number
                        ),
                    )
                    self._set(reminders_sent=number)
                continue
            if self._cancel_reason is not None:
                raise _Stop(OnboardingStatus.CANCELED, self._cancel_reason)
            assert self._submission is not None
            return self._submission

    @workflow.query
    def status(self) -> OnboardingView:
        return self._view

    @workflow.update
    async def submit_public_token(self, submission: PublicTokenSubmission) -> OnboardingView:
        self._submission = submission
        await workflow.wait_condition(
            lambda: self._view.status != OnboardingStatus.AWAITING_PUBLIC_TOKEN
        )
        return self._view

    @submit_public_token.validator
    def _validate_submission(self, submission: PublicTokenSubmission) -> None:
        if not submission.public_token:
            raise ApplicationError("public_token is required", type="invalid_request")
        try:
            refuse_card_numbers(submission)
        except CardNumberNotAccepted as exc:
            raise ApplicationError(exc.message, type=exc.code, non_retryable=True) from None
        if self._view.status != OnboardingStatus.AWAITING_PUBLIC_TOKEN or self._submission:
            raise ApplicationError(
                f"not waiting for a public token (status {self._view.status})", type="conflict"
            )

    @workflow.update
    async def cancel(self, reason: str) -> OnboardingView:
        self._cancel_reason = reason or "canceled"
        await workflow.wait_condition(lambda: self._view.status in _FINAL)
        return self._view

    @cancel.validator
    def _validate_cancel(self, reason: str) -> None:
        if self._view.status not in (
            OnboardingStatus.CREATING_LINK,
            OnboardingStatus.AWAITING_PUBLIC_TOKEN,
        ):
            raise ApplicationError(
                f"cannot cancel onboarding in status {self._view.status}", type="conflict"
            )
