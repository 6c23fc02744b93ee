"""PaysagaClient's bank-account onboarding (Plaid Link): start, read, complete."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from paysaga.client import starts
from paysaga.client import workflow_refs as wf
from paysaga.client.base import QUERY_TIMEOUT, UPDATE_TIMEOUT, ClientBase, poll
from paysaga.client.control.idempotency import body_hash
from paysaga.client.ids import CUSTOMER_ID_RE, check, merchant_of_onboarding, onboarding_id_for
from paysaga.client.temporal_errors import call
from paysaga.domain.errors import NotFound
from paysaga.domain.onboarding import OnboardingRequest, OnboardingView, PublicTokenSubmission
from paysaga.domain.pan import refuse_card_numbers
from paysaga.domain.status import OnboardingStatus

ONBOARDING_FINAL = frozenset(
    {
        OnboardingStatus.COMPLETED,
        OnboardingStatus.FAILED,
        OnboardingStatus.EXPIRED,
        OnboardingStatus.CANCELED,
    }
)


class OnboardingMixin(ClientBase):
    async def start_onboarding(
        self,
        *,
        idempotency_key: str,
        customer_id: str,
        legal_name: str,
        email: str,
        currency: str = "USD",
        wait: timedelta = timedelta(seconds=10),
    ) -> OnboardingView:
        """Start bank-account onboarding; returns once the Plaid link token exists (or `wait`)."""
        merchant_id = self._merchant()
        onboarding_id = onboarding_id_for(merchant_id, idempotency_key)
        check(CUSTOMER_ID_RE, customer_id, "customer_id", "customer id")
        request = OnboardingRequest(
            onboarding_id=onboarding_id,
            customer_id=customer_id,
            legal_name=legal_name,
            email=email,
            currency=currency,
            routing=self.routing,
        )
        request.validate()
        await starts.start_onboarding(
            self.temporal, request, task_queue=self.task_queue, eager_start=self.eager_start
        )
        return await poll(
            lambda: self.get_onboarding(onboarding_id), lambda view: bool(view.link_token), wait
        )

    def _onboarding_handle(self, onboarding_id: str) -> WorkflowHandle[Any, Any]:
        return self._owned_handle(
            onboarding_id,
            merchant_of_onboarding,
            lambda shown: NotFound(f"no onboarding {shown!r}", field="onboarding_id"),
        )

    async def get_onboarding(self, onboarding_id: str) -> OnboardingView:
        handle = self._onboarding_handle(onboarding_id)
        view: OnboardingView = await call(
            lambda: handle.query(
                wf.STATUS_QUERY, result_type=OnboardingView, rpc_timeout=QUERY_TIMEOUT
            ),
            onboarding_id,
        )
        return view

    async def complete_onboarding(
        self, onboarding_id: str, public_token: str, account_id: str | None = None
    ) -> OnboardingView:
        """Hand over the public token from Plaid Link; returns the view after the update."""
        handle = self._onboarding_handle(onboarding_id)
        submission = PublicTokenSubmission(public_token=public_token, account_id=account_id)
        refuse_card_numbers(submission)
        await call(
            lambda: handle.execute_update(
                wf.PUBLIC_TOKEN_UPDATE,
                submission,
                id=f"public-token-{body_hash(public_token)[:16]}",
                rpc_timeout=UPDATE_TIMEOUT,
            ),
            onboarding_id,
        )
        return await self.get_onboarding(onboarding_id)

    async def wait_for_onboarding(
        self, onboarding_id: str, timeout: timedelta = timedelta(seconds=60)
    ) -> OnboardingView:
        """Poll until the onboarding is completed, failed, expired or canceled (or the
        timeout); a completed one names its bank account in `bank_account_id`."""
        return await poll(
            lambda: self.get_onboarding(onboarding_id),
            lambda view: view.status in ONBOARDING_FINAL,
            timeout,
        )
