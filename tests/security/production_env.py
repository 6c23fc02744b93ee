"""A complete, valid PAYSAGA_ENV=production configuration, and bad values for each secret.

The secrets are generated per run: nothing here is a credential. Database and Temporal
addresses point wherever the caller says (a listener that records connections).
"""

from __future__ import annotations

import base64
import os
import secrets

from paysaga.config.settings import DEV_ENCRYPTION_KEY, DEVELOPMENT_ONLY

# Every secret production requires, by environment variable.
SECRETS = (
    "PAYSAGA_API_KEY_PEPPER",
    "PAYSAGA_CODEC_TOKEN",
    "PAYSAGA_ENCRYPTION_KEYS",
    "PAYSAGA_STRIPE_API_KEY",
    "PAYSAGA_STRIPE_WEBHOOK_SECRET",
    "PAYSAGA_BRAINTREE_PRIVATE_KEY",
    "PAYSAGA_PLAID_SECRET",
)
KINDS = ("empty", "weak", "development")


def production_env(address: str = "127.0.0.1:1") -> dict[str, str]:
    host, _, port = address.partition(":")
    return {
        "PAYSAGA_ENV": "production",
        "PAYSAGA_DATABASE_URLS": f"postgresql://paysaga:db-password@{host}:{port}/ledger",
        "PAYSAGA_TEMPORAL_ADDRESS": address,
        "PAYSAGA_ENCRYPTION_KEYS": "live-1:" + base64.b64encode(os.urandom(32)).decode(),
        "PAYSAGA_API_KEY_PEPPER": secrets.token_urlsafe(32),
        "PAYSAGA_CODEC_TOKEN": secrets.token_urlsafe(32),
        "PAYSAGA_STRIPE_API_KEY": "sk_live_" + secrets.token_urlsafe(40),
        "PAYSAGA_STRIPE_API_BASE": "https://api.stripe.com",
        "PAYSAGA_STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_urlsafe(24),
        "PAYSAGA_BRAINTREE_MERCHANT_ID": "m" + secrets.token_hex(7),
        "PAYSAGA_BRAINTREE_PUBLIC_KEY": secrets.token_hex(8),
        "PAYSAGA_BRAINTREE_PRIVATE_KEY": secrets.token_hex(16),
        "PAYSAGA_BRAINTREE_BASE_URL": "https://api.braintreegateway.com",
        "PAYSAGA_PLAID_CLIENT_ID": secrets.token_hex(12),
        "PAYSAGA_PLAID_SECRET": secrets.token_hex(15),  # 30 hex characters, as Plaid issues
        "PAYSAGA_PLAID_BASE_URL": "https://production.plaid.com",
    }


def bad_value(variable: str, kind: str) -> str:
    """An empty, weak (one character / a short key) or development value for `variable`."""
    if kind == "empty":
        return ""
    if variable == "PAYSAGA_ENCRYPTION_KEYS":
        if kind == "weak":  # a 128-bit key where 256 bits are required
            return "live-1:" + base64.b64encode(os.urandom(16)).decode()
        return DEV_ENCRYPTION_KEY
    if kind == "weak":
        return "x"
    return DEVELOPMENT_ONLY[variable.removeprefix("PAYSAGA_").lower()]


def as_overrides(env: dict[str, str]) -> dict[str, str]:
    """The same configuration as load_settings() keyword arguments."""
    return {name.removeprefix("PAYSAGA_").lower(): value for name, value in env.items()}
