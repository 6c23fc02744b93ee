"""Credentials and timing shared by the three sandbox servers."""

from __future__ import annotations

from dataclasses import dataclass

from paysaga.config.settings import Settings


@dataclass(frozen=True)
class SandboxSettings:
    stripe_api_key: str = "sk_test_paysaga_sandbox"
    stripe_webhook_secret: str = "whsec_paysaga_sandbox"
    braintree_merchant_id: str = "paysaga_sandbox"
    braintree_public_key: str = "paysaga_public"
    braintree_private_key: str = "paysaga_private_sandbox"
    plaid_client_id: str = "paysaga_client"
    plaid_secret: str = "paysaga_plaid_sandbox_secret"
    # Captured payments settle this many seconds after capture; 0 = only on demand
    # (POST /__sandbox/settle).
    settle_after_s: float = 2.0
    # Default search visibility lag (seconds) when the fault config sets none:
    # paysaga/sandbox/visibility.py. 0 keeps search read-after-write for tests.
    search_lag_s: float = 0.0

    @classmethod
    def from_settings(
        cls, settings: Settings, *, settle_after_s: float = 2.0, search_lag_s: float = 0.0
    ) -> SandboxSettings:
        return cls(
            stripe_api_key=settings.stripe_api_key.get_secret_value(),
            stripe_webhook_secret=settings.stripe_webhook_secret.get_secret_value(),
            braintree_merchant_id=settings.braintree_merchant_id,
            braintree_public_key=settings.braintree_public_key,
            braintree_private_key=settings.braintree_private_key.get_secret_value(),
            plaid_client_id=settings.plaid_client_id,
            plaid_secret=settings.plaid_secret.get_secret_value(),
            settle_after_s=settle_after_s,
            search_lag_s=search_lag_s,
        )
