"""What the request handlers share: settings, clients, stores and verifiers."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from ledger.service import Ledger
from paysaga.api.auth_throttle import AuthThrottle
from paysaga.client import PaysagaClient
from paysaga.client.control.bank_accounts import BankAccountStore
from paysaga.client.control.idempotency import IdempotencyStore
from paysaga.client.control.keys import ApiKeyStore
from paysaga.client.control.merchants import MerchantStore
from paysaga.client.control.webhook_events import WebhookEventStore
from paysaga.config.settings import Settings
from paysaga.gateways.braintree_webhooks import BraintreeWebhookVerifier
from paysaga.gateways.plaid_client import PlaidClient
from paysaga.gateways.webhooks import PlaidWebhookVerifier


@dataclass
class AppState:
    settings: Settings
    temporal: Client
    engine: AsyncEngine
    ledger: Ledger
    payments: PaysagaClient  # unscoped; handlers call .for_merchant(...)
    merchants: MerchantStore
    api_keys: ApiKeyStore
    idempotency: IdempotencyStore
    bank_accounts: BankAccountStore
    webhook_events: WebhookEventStore
    auth_throttle: AuthThrottle
    braintree_webhooks: BraintreeWebhookVerifier
    plaid_webhooks: PlaidWebhookVerifier
    plaid: PlaidClient


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.paysaga
    return state
