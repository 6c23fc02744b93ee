"""PAYSAGA_ENV=production fails closed: every secret set, strong and not a development
value, live gateway URLs, no embedded stack; one message names every bad setting."""

from __future__ import annotations

import os

import pytest

from paysaga.config.settings import (
    DEV_API_KEY_PEPPER,
    DEVELOPMENT_IDENTIFIERS,
    DEVELOPMENT_ONLY,
    Settings,
    load_settings,
)
from paysaga.domain.errors import ConfigurationError
from paysaga.security import api_keys
from tests.security.production_env import KINDS, SECRETS, as_overrides, bad_value, production_env


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PAYSAGA_"):
            monkeypatch.delenv(name)


def _refused(**changes: object) -> ConfigurationError:
    values: dict[str, object] = {**as_overrides(production_env()), **changes}
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**values)
    return caught.value


def test_development_defaults_are_fine_outside_production() -> None:
    assert load_settings().env == "development"


def test_production_with_real_secrets_loads() -> None:
    settings = load_settings(**as_overrides(production_env()))
    assert settings.env == "production"
    assert settings.encryption_key_material()[0][0] == "live-1"
    assert settings.stripe_base() == "https://api.stripe.com"


@pytest.mark.parametrize("spelling", ["production", "prod", "Production", " production", "PROD\n"])
def test_every_spelling_of_production_is_production(spelling: str) -> None:
    error = _refused(env=spelling, codec_token="")
    assert error.field == "PAYSAGA_CODEC_TOKEN"


@pytest.mark.parametrize(("spelling", "meaning"), [("dev", "development"), (" Test ", "test")])
def test_other_environments_are_normalised(spelling: str, meaning: str) -> None:
    assert load_settings(env=spelling).env == meaning


def test_an_unknown_environment_is_refused_not_taken_as_development() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env="prodution")
    assert caught.value.field == "PAYSAGA_ENV"
    assert "prodution" in caught.value.message


@pytest.mark.parametrize("variable", SECRETS)
@pytest.mark.parametrize("kind", KINDS)
def test_production_refuses_each_secret_empty_weak_or_development(variable: str, kind: str) -> None:
    name = variable.removeprefix("PAYSAGA_").lower()
    value = bad_value(variable, kind)
    error = _refused(**{name: value})
    assert error.field == variable, error.message
    if kind == "development":
        assert "development default" in error.message
    if value and len(value) > 2:
        assert value not in error.message  # never echo a secret


@pytest.mark.parametrize("name", ["api_key_pepper", "codec_token", "stripe_webhook_secret"])
def test_a_long_but_repetitive_secret_is_weak(name: str) -> None:
    error = _refused(**{name: "ab" * 24})
    assert error.field == f"PAYSAGA_{name.upper()}"
    assert "weak" in error.message


def test_every_development_default_is_refused() -> None:
    # Left at their defaults, every development secret and identifier is named at once.
    env = {
        k: v
        for k, v in production_env().items()
        if k.removeprefix("PAYSAGA_").lower() not in {*DEVELOPMENT_ONLY, *DEVELOPMENT_IDENTIFIERS}
    }
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**as_overrides(env))
    named = set(caught.value.field.split(", ")) if caught.value.field else set()
    expected = {f"PAYSAGA_{n.upper()}" for n in (*DEVELOPMENT_ONLY, *DEVELOPMENT_IDENTIFIERS)}
    assert named == expected
    assert caught.value.message.startswith("refusing to start in production")
    for variable in expected:  # one line each
        assert f"\n  {variable}: " in caught.value.message


def test_a_development_value_is_refused_in_any_secret() -> None:
    error = _refused(plaid_secret=DEVELOPMENT_ONLY["stripe_webhook_secret"])
    assert error.field == "PAYSAGA_PLAID_SECRET"


def test_stripe_test_mode_key_is_refused() -> None:
    error = _refused(stripe_api_key="sk_test_" + "Zq81vXw" * 6)
    assert error.field == "PAYSAGA_STRIPE_API_KEY" and "test-mode" in error.message


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("stripe_api_base", ""),
        ("stripe_api_base", "http://api.stripe.com"),
        ("stripe_api_base", "https://127.0.0.1:12111"),
        ("stripe_api_base", "https://localhost"),
        ("braintree_base_url", ""),
        ("braintree_base_url", "sandbox"),
        ("braintree_base_url", "https://api.sandbox.braintreegateway.com"),
        ("plaid_base_url", ""),
        ("plaid_base_url", "https://sandbox.plaid.com"),
        ("plaid_base_url", "https://[::1]:12113"),
    ],
)
def test_production_refuses_sandbox_or_local_gateway_urls(name: str, url: str) -> None:
    error = _refused(**{name: url})
    assert error.field == f"PAYSAGA_{name.upper()}", error.message


def test_braintree_production_may_be_named() -> None:
    settings = load_settings(
        **{**as_overrides(production_env()), "braintree_base_url": "production"}
    )
    assert settings.braintree_base() == "production"


@pytest.mark.parametrize("name", ["database_urls", "temporal_address"])
def test_production_refuses_the_embedded_stack(name: str) -> None:
    error = _refused(**{name: ""})
    assert error.field == f"PAYSAGA_{name.upper()}"


def test_an_empty_base_url_never_resolves_to_the_sandbox_in_production() -> None:
    settings = load_settings(**as_overrides(production_env()))
    # Even Settings changed after validation cannot fall back to the local sandbox.
    changed = settings.model_copy(update={"stripe_api_base": "", "plaid_base_url": ""})
    with pytest.raises(ConfigurationError, match="PAYSAGA_STRIPE_API_BASE"):
        changed.stripe_base()
    with pytest.raises(ConfigurationError, match="PAYSAGA_PLAID_BASE_URL"):
        changed.plaid_base()


def test_pepper_comes_from_the_validated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = production_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    api_keys._pepper.cache_clear()
    try:
        assert api_keys._pepper() == env["PAYSAGA_API_KEY_PEPPER"].encode()
        monkeypatch.setenv("PAYSAGA_API_KEY_PEPPER", DEV_API_KEY_PEPPER)
        api_keys._pepper.cache_clear()
        with pytest.raises(ConfigurationError, match="PAYSAGA_API_KEY_PEPPER"):
            api_keys._pepper()
    finally:
        api_keys._pepper.cache_clear()


def test_sandbox_public_tokens_only_outside_production() -> None:
    """Issue 15 item 2: /v1/sandbox/public_token exists for developers, never in production."""
    from paysaga.api.app import create_app

    def paths(settings: Settings) -> set[str]:
        app = create_app(settings, check_keys=False)
        return set(app.openapi()["paths"])

    assert "/v1/sandbox/public_token" in paths(load_settings(env="development"))
    production = load_settings(**as_overrides(production_env()))
    assert "/v1/sandbox/public_token" not in paths(production)


def test_plaid_webhook_url_in_link_tokens() -> None:
    assert load_settings(api_port=8123).plaid_webhook() == "http://127.0.0.1:8123/webhooks/plaid"
    production = {**as_overrides(production_env()), "plaid_webhook_url": ""}
    assert load_settings(**production).plaid_webhook() is None
    hook = "https://pay.example.com/webhooks/plaid"
    assert load_settings(plaid_webhook_url=hook).plaid_webhook() == hook
