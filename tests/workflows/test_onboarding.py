"""OnboardingWorkflow on the time-skipping server with mocked Plaid/Stripe/ledger activities,
and the bank-account activity retried against Stripe's idempotency rules."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.plaid import PlaidActivities
from paysaga.client.starts import start_onboarding
from paysaga.domain import activity_names as names
from paysaga.domain.bank_accounts import (
    BalanceCheckInput,
    BalanceCheckResult,
    RecordBankAccountInput,
    RecordBankAccountResult,
    bank_account_id_for,
)
from paysaga.domain.onboarding import (
    BankAccountInput,
    BankAccountResult,
    BankVerification,
    ExchangeInput,
    ExchangeResult,
    LinkToken,
    LinkTokenInput,
    OnboardingOptions,
    OnboardingRequest,
    OpenAccountsInput,
    OpenAccountsResult,
    PublicTokenSubmission,
    ReminderInput,
    VerifyInput,
)
from paysaga.domain.routing import Routing
from paysaga.domain.status import OnboardingStatus
from paysaga.gateways.errors import InvalidRequest, OutcomeUnknown
from paysaga.security.errors import SecretNotFound
from tests.workflows.helpers import UPDATE_REJECTED, worker
from workflows.onboarding import OnboardingWorkflow


@dataclass
class FakePlaid:
    owner: str = "Alberta Bobbeth Charleson"
    available_minor: int = 10_000  # what Plaid Balance reports
    calls: dict[str, list[Any]] = field(default_factory=lambda: {})

    def _record(self, name: str, value: Any) -> None:
        self.calls.setdefault(name, []).append(value)

    def activities(self) -> list[Any]:
        return [
            self.link,
            self.exchange,
            self.verify,
            self.bank,
            self.remind,
            self.accounts,
            self.record,
            self.balance,
        ]

    @activity.defn(name=names.PLAID_LINK_TOKEN)
    async def link(self, request: LinkTokenInput) -> LinkToken:
        self._record("link", request)
        return LinkToken("link-sandbox-123")

    @activity.defn(name=names.PLAID_EXCHANGE)
    async def exchange(self, request: ExchangeInput) -> ExchangeResult:
        self._record("exchange", request)
        return ExchangeResult("item-1", f"plaid-access:{request.onboarding_id}")

    @activity.defn(name=names.PLAID_VERIFY)
    async def verify(self, request: VerifyInput) -> BankVerification:
        self._record("verify", request)
        owners = (self.owner,) if self.owner else ()  # "": the bank gave no owner name
        return BankVerification("acc-1", "0000", owners, True, "First Platypus Bank", "checking")

    @activity.defn(name=names.PLAID_BANK_ACCOUNT)
    async def bank(self, request: BankAccountInput) -> BankAccountResult:
        self._record("bank", request)
        return BankAccountResult("cus_1", "ba_1")

    @activity.defn(name=names.PLAID_REMIND)
    async def remind(self, request: ReminderInput) -> None:
        self._record("remind", request)

    @activity.defn(name=names.OPEN_CUSTOMER_ACCOUNTS)
    async def accounts(self, request: OpenAccountsInput) -> OpenAccountsResult:
        self._record("accounts", request)
        return OpenAccountsResult((f"customer_balance:{request.customer_id}:USD",))

    @activity.defn(name=names.PLAID_BALANCE)
    async def balance(self, request: BalanceCheckInput) -> BalanceCheckResult:
        self._record("balance", request)
        return BalanceCheckResult(self.available_minor, self.available_minor + 1000, "USD")

    @activity.defn(name=names.RECORD_BANK_ACCOUNT)
    async def record(self, request: RecordBankAccountInput) -> RecordBankAccountResult:
        self._record("record", request)
        return RecordBankAccountResult(request.bank_account_id, request.status)


def request(task_queue: str, oid: str, **kw: Any) -> OnboardingRequest:
    return OnboardingRequest(
        onboarding_id=oid,
        customer_id="cust-1",
        legal_name="Alberta Charleson",
        email="a@example.com",
        routing=Routing.single(task_queue),
        **kw,
    )


async def test_waits_five_days_then_completes(env: WorkflowEnvironment, task_queue: str) -> None:
    plaid = FakePlaid()
    async with worker(env.client, task_queue, plaid.activities()):
        handle, _ = await start_onboarding(
            env.client, request(task_queue, task_queue), task_queue=task_queue
        )
        for _ in range(100):
            view = await handle.query(OnboardingWorkflow.status)
            if view.status == OnboardingStatus.AWAITING_PUBLIC_TOKEN:
                break
            await asyncio.sleep(0.05)
        assert view.link_token == "link-sandbox-123"
        await env.sleep(timedelta(days=5))
        done = await handle.execute_update(
            OnboardingWorkflow.submit_public_token, PublicTokenSubmission("public-sandbox-x")
        )
        assert done.status != OnboardingStatus.AWAITING_PUBLIC_TOKEN
        result = await handle.result()
    assert result.status == OnboardingStatus.COMPLETED
    assert result.bank_account_ref == "ba_1" and result.customer_ref == "cus_1"
    # Issue 15 item 5: no customer ledger accounts any more (nothing posted to them), and
    # an onboarding that is no merchant's records no bank account.
    assert not result.accounts and "accounts" not in plaid.calls and "record" not in plaid.calls
    assert result.reminders_sent == 2  # every 2 days by default: day 2 and day 4
    # The access token never appears in the workflow: only its secret-store reference.
    assert plaid.calls["verify"][0].access_token_ref == f"plaid-access:{task_queue}"


async def test_expires_without_public_token(env: WorkflowEnvironment, task_queue: str) -> None:
    plaid = FakePlaid()
    async with worker(env.client, task_queue, plaid.activities()):
        handle, _ = await start_onboarding(
            env.client, request(task_queue, task_queue), task_queue=task_queue
        )
        result = await handle.result()
    assert result.status == OnboardingStatus.EXPIRED
    assert result.reminders_sent == 3  # days 2, 4, 6 of 7
    assert "exchange" not in plaid.calls


async def test_name_mismatch_fails(env: WorkflowEnvironment, task_queue: str) -> None:
    plaid = FakePlaid(owner="Somebody Else")
    async with worker(env.client, task_queue, plaid.activities()):
        handle, _ = await start_onboarding(
            env.client, request(task_queue, task_queue), task_queue=task_queue
        )
        await asyncio.sleep(0.3)
        await handle.execute_update(
            OnboardingWorkflow.submit_public_token, PublicTokenSubmission("public-x")
        )
        result = await handle.result()
    assert result.status == OnboardingStatus.FAILED
    assert result.last_error and "name" in result.last_error
    assert "bank" not in plaid.calls


MERCHANT = "mer_0123456789abcdef"


async def _complete(env: WorkflowEnvironment, task_queue: str, plaid: FakePlaid, oid: str) -> Any:
    async with worker(env.client, task_queue, plaid.activities()):
        handle, _ = await start_onboarding(
            env.client, request(task_queue, oid), task_queue=task_queue
        )
        for _ in range(100):
            if (await handle.query(OnboardingWorkflow.status)).link_token:
                break
            await asyncio.sleep(0.05)
        await handle.execute_update(
            OnboardingWorkflow.submit_public_token, PublicTokenSubmission("public-x")
        )
        return await handle.result()


async def test_merchant_onboarding_records_a_verified_bank_account(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Issue 15 item 1: the onboarding's one object a payment names, with the gateway's
    and Plaid's references, and only the last four digits."""
    plaid = FakePlaid()
    oid = f"onboarding-{MERCHANT}.{task_queue[-12:]}"
    result = await _complete(env, task_queue, plaid, oid)
    assert result.status == OnboardingStatus.COMPLETED, result.last_error
    assert result.bank_account_id == bank_account_id_for(oid)
    assert (result.bank_account_status, result.owner_name_match) == ("verified", "partial")
    [recorded] = plaid.calls["record"]
    assert recorded == RecordBankAccountInput(
        bank_account_id=bank_account_id_for(oid),
        onboarding_id=oid,
        merchant_id=MERCHANT,
        customer_id="cust-1",
        currency="USD",
        gateway="stripe",
        gateway_customer_ref="cus_1",
        payment_method_ref="ba_1",
        plaid_item_id="item-1",
        plaid_account_id="acc-1",
        plaid_access_token_ref=f"plaid-access:{oid}",
        last4="0000",
        institution_name="First Platypus Bank",
        account_subtype="checking",
        owner_name_match="partial",
        status="verified",
    )
    assert "accounts" not in plaid.calls


async def test_no_owner_name_records_an_unverified_bank_account(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    plaid = FakePlaid(owner="")
    oid = f"onboarding-{MERCHANT}.{task_queue[-12:]}"
    result = await _complete(env, task_queue, plaid, oid)
    assert result.status == OnboardingStatus.COMPLETED, result.last_error
    assert (result.bank_account_status, result.owner_name_match) == ("unverified", "unavailable")
    # Without a merchant nothing could hold it unverified: it fails as before.
    plaid = FakePlaid(owner="")
    other = f"{task_queue}-x"
    result = await _complete(env, other, plaid, other)
    assert result.status == OnboardingStatus.FAILED and "owner name" in (result.last_error or "")
    assert "bank" not in plaid.calls


async def test_cancel_update_and_workflow_cancel(env: WorkflowEnvironment, task_queue: str) -> None:
    plaid = FakePlaid()
    options = OnboardingOptions(reminder_interval_s=3600, expiry_s=86400)
    async with worker(env.client, task_queue, plaid.activities()):
        first, _ = await start_onboarding(
            env.client,
            request(task_queue, f"{task_queue}-a", options=options),
            task_queue=task_queue,
        )
        await asyncio.sleep(0.3)
        view = await first.execute_update(OnboardingWorkflow.cancel, "customer gave up")
        assert view.status == OnboardingStatus.CANCELED
        with pytest.raises(UPDATE_REJECTED):
            await first.execute_update(
                OnboardingWorkflow.submit_public_token, PublicTokenSubmission("late")
            )
        second, _ = await start_onboarding(
            env.client,
            request(task_queue, f"{task_queue}-b", options=options),
            task_queue=task_queue,
        )
        await asyncio.sleep(0.3)
        await second.cancel()
        with pytest.raises(WorkflowFailureError):
            await second.result()


# ------------------------------------- the bank-account step retried (issue 13, defect 14)


@dataclass
class MintingPlaid:
    """Plaid mints a new Stripe bank-account token on every call."""

    minted: list[str] = field(default_factory=list)

    def create_stripe_bank_account_token(self, access_token: str, account_id: str) -> str:
        self.minted.append(f"btok_{len(self.minted) + 1}")
        return self.minted[-1]


@dataclass
class IdempotentStripe:
    """Stripe's idempotency: a key replays its first request's result, and refuses other
    parameters (https://docs.stripe.com/api/idempotent_requests). The first attach lands
    but its response is lost."""

    seen: dict[str, tuple[Any, str]] = field(default_factory=dict)
    bank_accounts: list[str] = field(default_factory=list)
    lose_first_response: bool = True

    def _replay(self, key: str, params: Any, make: Any) -> str:
        if key in self.seen:
            first, result = self.seen[key]
            if first != params:
                raise InvalidRequest(
                    "Keys for idempotent requests can only be used with the same parameters"
                    " they were first used with.",
                    gateway="stripe",
                    http_status=400,
                )
            return result
        self.seen[key] = (params, make())
        return self.seen[key][1]

    def create_customer(self, idempotency_key: str, *, email: str, name: str) -> str:
        return self._replay(idempotency_key, (email, name), lambda: "cus_1")

    def attach_bank_account(self, idempotency_key: str, customer: str, token: str) -> str:
        def attach() -> str:
            self.bank_accounts.append(f"ba_{len(self.bank_accounts) + 1}")
            return self.bank_accounts[-1]

        result = self._replay(idempotency_key, (customer, token), attach)
        if self.lose_first_response:
            self.lose_first_response = False
            raise OutcomeUnknown("read timed out", gateway="stripe")
        return result


@dataclass
class MemorySecrets:
    stored: dict[str, str] = field(default_factory=dict)

    async def put(self, record_id: str, kind: str, plaintext: str) -> None:
        self.stored[record_id] = plaintext

    async def get_text(self, record_id: str) -> str:
        if record_id not in self.stored:
            raise SecretNotFound(record_id)
        return self.stored[record_id]


async def test_bank_account_retry_replays_the_attach() -> None:
    plaid, stripe = MintingPlaid(), IdempotentStripe()
    secrets = MemorySecrets({"plaid-access:o1": "access-sandbox-1"})
    acts = PlaidActivities(plaid, secrets, stripe)  # type: ignore[arg-type]
    bank = BankAccountInput("o1", "cust-1", "A C", "a@example.com", "plaid-access:o1", "acc-1")
    with pytest.raises(ApplicationError) as lost:
        await acts.create_bank_account(bank)
    assert lost.value.type == "OutcomeUnknown"
    # The activity's retry: the same token again, so Stripe replays the first attach.
    result = await acts.create_bank_account(bank)
    assert result == BankAccountResult(customer_ref="cus_1", bank_account_ref="ba_1")
    assert stripe.bank_accounts == ["ba_1"]
    assert plaid.minted == ["btok_1"]
    assert "btok_1" not in str(list(stripe.seen))  # keys name a digest, not the token
