"""PAYSAGA_ENV=production refuses every development default secret, naming the setting."""

from __future__ import annotations

import base64
import os

import pytest

from paysaga.config.settings import DEVELOPMENT_ONLY, load_settings
from paysaga.domain.errors import ConfigurationError

REAL_VALUES = {
    "encryption_keys": "live-1:" + base64.b64encode(os.urandom(32)).decode(),
    "codec_token": "operator-token-from-the-vault",
    "stripe_api_key": "sk_live_from_the_vault",
    "stripe_webhook_secret": "whsec_from_the_vault",
    "braintree_private_key": "braintree-private-from-the-vault",
    "plaid_secret": "plaid-secret-from-the-vault",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PAYSAGA_"):
            monkeypatch.delenv(name)


def test_development_defaults_are_fine_outside_production() -> None:
    assert load_settings().env == "development"


def test_production_with_real_secrets_loads() -> None:
    settings = load_settings(env="production", **REAL_VALUES)
    assert settings.encryption_key_material()[0][0] == "live-1"


@pytest.mark.parametrize("field", sorted(DEVELOPMENT_ONLY))
def test_production_refuses_each_development_default(field: str) -> None:
    values = {k: v for k, v in REAL_VALUES.items() if k != field}
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env="production", **values)
    assert caught.value.field == f"PAYSAGA_{field.upper()}"
    assert "development default" in str(caught.value)


def test_sandbox_public_tokens_only_outside_production() -> None:
    """Issue 15 item 2: /v1/sandbox/public_token exists for developers, never in production."""
    from paysaga.api.app import create_app

    def paths(env: str, **values: str) -> set[str]:
        app = create_app(load_settings(env=env, **values), check_keys=False)
        return set(app.openapi()["paths"])

    assert "/v1/sandbox/public_token" in paths("development")
    assert "/v1/sandbox/public_token" not in paths("production", **REAL_VALUES)


def test_plaid_webhook_url_in_link_tokens() -> None:
    assert load_settings(api_port=8123).plaid_webhook() == "http://127.0.0.1:8123/webhooks/plaid"
    assert load_settings(env="production", **REAL_VALUES).plaid_webhook() is None
    hook = "https://pay.example.com/webhooks/plaid"
    assert load_settings(plaid_webhook_url=hook).plaid_webhook() == hook
