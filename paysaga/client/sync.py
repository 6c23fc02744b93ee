"""SyncPaysagaClient: the same methods, blocking, for scripts and synchronous apps.

The Temporal client is bound to the event loop that created it, so the wrapper
owns one loop on a background thread and runs every call there.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from datetime import date, timedelta
from typing import Any, TypeVar

from paysaga.client.client import PaysagaClient
from paysaga.client.types import PaymentSummary, ReconciliationStarted
from paysaga.config.settings import Settings
from paysaga.domain.bank_accounts import BankAccount
from paysaga.domain.onboarding import OnboardingView
from paysaga.domain.payments import MethodType, PaymentOptions, PaymentView
from paysaga.domain.refunds import RefundOutcome

T = TypeVar("T")


class SyncPaysagaClient:
    def __init__(self, settings: Settings | None = None, *, merchant_id: str | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._async = self._run(_connect(settings, merchant_id))

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        self._run(self._async.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> SyncPaysagaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def aio(self) -> PaysagaClient:
        return self._async

    def create_payment(
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
        return self._run(
            self._async.create_payment(
                idempotency_key=idempotency_key,
                amount_minor=amount_minor,
                currency=currency,
                customer_id=customer_id,
                payment_method=payment_method,
                method_type=method_type,
                capture=capture,
                gateway=gateway,
                description=description,
                wait=wait,
                options=options,
                bank_account_id=bank_account_id,
                balance_check=balance_check,
            )
        )

    def get_payment(self, payment_id: str) -> PaymentView:
        return self._run(self._async.get_payment(payment_id))

    def capture(self, payment_id: str, amount_minor: int | None = None) -> PaymentView:
        return self._run(self._async.capture(payment_id, amount_minor))

    def cancel(self, payment_id: str, reason: str = "requested_by_customer") -> PaymentView:
        return self._run(self._async.cancel(payment_id, reason))

    def refund(
        self, payment_id: str, amount_minor: int, *, request_id: str | None = None
    ) -> RefundOutcome:
        return self._run(self._async.refund(payment_id, amount_minor, request_id=request_id))

    def list_payments(
        self, *, status: str | None = None, customer: str | None = None, limit: int = 100
    ) -> list[PaymentSummary]:
        return self._run(self._async.list_payments(status=status, customer=customer, limit=limit))

    def start_onboarding(
        self, *, idempotency_key: str, customer_id: str, legal_name: str, email: str
    ) -> OnboardingView:
        return self._run(
            self._async.start_onboarding(
                idempotency_key=idempotency_key,
                customer_id=customer_id,
                legal_name=legal_name,
                email=email,
            )
        )

    def complete_onboarding(self, onboarding_id: str, public_token: str) -> OnboardingView:
        return self._run(self._async.complete_onboarding(onboarding_id, public_token))

    def get_bank_account(self, bank_account_id: str) -> BankAccount:
        return self._run(self._async.get_bank_account(bank_account_id))

    def list_bank_accounts(
        self, *, customer_id: str | None = None, limit: int = 100
    ) -> list[BankAccount]:
        return self._run(self._async.list_bank_accounts(customer_id=customer_id, limit=limit))

    def disable_bank_account(self, bank_account_id: str, reason: str = "") -> BankAccount:
        return self._run(self._async.disable_bank_account(bank_account_id, reason))

    def verify_bank_account(self, bank_account_id: str, reason: str = "") -> BankAccount:
        return self._run(self._async.verify_bank_account(bank_account_id, reason))

    def reconcile(self, period: str | date) -> ReconciliationStarted:
        return self._run(self._async.reconcile(period))


async def _connect(settings: Settings | None, merchant_id: str | None) -> PaysagaClient:
    from paysaga.config.settings import get_settings

    return await PaysagaClient.connect(settings or get_settings(), merchant_id=merchant_id)
