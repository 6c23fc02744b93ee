"""Settings from the environment (prefix PAYSAGA_); defaults select the embedded stack."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from paysaga.config.production import (
    MIN_SECRET_CHARS,
    PRODUCTION,
    gateway_url_problem,
    normalise_env,
    required_problem,
    secret_problem,
)
from paysaga.domain.errors import ConfigurationError

# Development-only key (32 zero-ish bytes, base64). Refused when PAYSAGA_ENV=production.
DEV_ENCRYPTION_KEY = "dev-1:" + base64.b64encode(b"paysaga-dev-key-do-not-use-live!").decode()
DEV_API_KEY_PEPPER = "paysaga-dev-api-key-pepper"

# Defaults that only make sense against the local sandboxes; PAYSAGA_ENV=production
# refuses to start with any of them.
DEVELOPMENT_ONLY: dict[str, str] = {
    "encryption_keys": DEV_ENCRYPTION_KEY,
    "api_key_pepper": DEV_API_KEY_PEPPER,
    "codec_token": "paysaga-dev-operator-token",
    "stripe_api_key": "sk_test_paysaga_sandbox",
    "stripe_webhook_secret": "whsec_paysaga_sandbox",
    "braintree_private_key": "paysaga_private_sandbox",
    "plaid_secret": "paysaga_plaid_sandbox_secret",
}
# Gateway identifiers (not secrets) whose defaults name the local sandboxes.
DEVELOPMENT_IDENTIFIERS: dict[str, str] = {
    "braintree_merchant_id": "paysaga_sandbox",
    "braintree_public_key": "paysaga_public",
    "plaid_client_id": "paysaga_client",
}
# A development value is refused in any secret, not only in its own setting.
DEVELOPMENT_VALUES = frozenset(DEVELOPMENT_ONLY.values()) | frozenset(
    DEVELOPMENT_IDENTIFIERS.values()
)
GATEWAY_URLS: dict[str, tuple[str, ...]] = {
    "stripe_api_base": (),
    # The braintree SDK also takes its environment by name.
    "braintree_base_url": ("production",),
    "plaid_base_url": (),
}


def _production(info: ValidationInfo) -> bool:
    # env is validated first (field order); if it was refused, the env error is reported
    # alone rather than a list of checks that may not apply.
    return info.data.get("env") == PRODUCTION


class Settings(BaseSettings):
    # validate_default: the production check below must also see values left at default.
    model_config = SettingsConfigDict(env_prefix="PAYSAGA_", extra="ignore", validate_default=True)

    env: str = Field("development", description="development | test | production (dev, prod)")
    data_dir: Path = Field(Path(".paysaga"), description="State of the embedded stack")

    # Ledger shards: one DSN per shard. Empty means: embedded PostgreSQL.
    database_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    shard_count: int = Field(2, ge=1, le=64, description="Shards of the embedded stack")
    postgres_port: int = Field(5433, ge=1, le=65535)

    # Temporal. Empty address means: embedded dev server.
    temporal_address: str = ""
    temporal_namespace: str = "default"
    temporal_port: int = Field(7233, ge=1, le=65535)
    temporal_ui_port: int = Field(8233, ge=1, le=65535)

    api_port: int = Field(8000, ge=1, le=65535)
    codec_port: int = Field(8081, ge=1, le=65535)
    sandbox_stripe_port: int = Field(12111, ge=1, le=65535)
    sandbox_braintree_port: int = Field(12112, ge=1, le=65535)
    sandbox_plaid_port: int = Field(12113, ge=1, le=65535)

    # Gateways. Empty base URLs mean: the local sandboxes.
    stripe_api_key: SecretStr = SecretStr(DEVELOPMENT_ONLY["stripe_api_key"])
    stripe_api_base: str = ""
    stripe_webhook_secret: SecretStr = SecretStr(DEVELOPMENT_ONLY["stripe_webhook_secret"])
    braintree_merchant_id: str = DEVELOPMENT_IDENTIFIERS["braintree_merchant_id"]
    braintree_public_key: str = DEVELOPMENT_IDENTIFIERS["braintree_public_key"]
    braintree_private_key: SecretStr = SecretStr(DEVELOPMENT_ONLY["braintree_private_key"])
    braintree_base_url: str = ""
    # How long after a request failed its effect may still be missing from the gateway's
    # search (late completion plus indexing). Unknown outcomes are decided on it, so err
    # long: Stripe documents "searchable in under 1 minute" (https://docs.stripe.com/search
    # #data-freshness); Braintree documents no bound, so twice that.
    stripe_search_lag_s: float = Field(60.0, gt=0, le=86400)
    braintree_search_lag_s: float = Field(120.0, gt=0, le=86400)
    plaid_client_id: str = DEVELOPMENT_IDENTIFIERS["plaid_client_id"]
    plaid_secret: SecretStr = SecretStr(DEVELOPMENT_ONLY["plaid_secret"])
    plaid_base_url: str = ""
    # Link tokens carry our webhook URL (Plaid posts the Item's webhooks there) and,
    # for OAuth institutions, the redirect URI registered in Plaid's dashboard. Empty
    # webhook: the local API's /webhooks/plaid, except in production (none).
    plaid_webhook_url: str = ""
    plaid_redirect_uri: str = ""

    # Payload / field encryption keys: "keyid:base64(32 bytes)", comma separated,
    # newest first. The first one encrypts; all of them decrypt.
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=lambda: [SecretStr(DEV_ENCRYPTION_KEY)]
    )
    codec_token: SecretStr = SecretStr(DEVELOPMENT_ONLY["codec_token"])
    # Open workflows encrypted with a key missing from encryption_keys, found at start-up
    # by workers and the API: refuse to start, or only log an error (while terminating them).
    undecodable_workflows: Literal["refuse", "warn"] = "refuse"
    # Keys merchant API keys' hashes (security/api_keys.py); kept outside the database.
    api_key_pepper: SecretStr = SecretStr(DEVELOPMENT_ONLY["api_key_pepper"])

    log_format: str = Field("auto", description="auto | json | console")
    log_level: str = "INFO"

    @field_validator("database_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("database_urls")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
                raise ValueError(f"not a PostgreSQL DSN: {url.split('@')[-1]!r}")
        return value

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _check_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        if not value:
            raise ValueError("at least one key is required")
        seen: set[str] = set()
        for secret in value:
            key_id, sep, encoded = secret.get_secret_value().partition(":")
            if not sep or not key_id:
                raise ValueError("each key must look like 'keyid:base64key'")
            if key_id in seen:
                raise ValueError(f"key id {key_id!r} appears twice")
            seen.add(key_id)
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"key {key_id!r} is not valid base64") from None
            if len(raw) != 32:
                raise ValueError(f"key {key_id!r} must decode to 32 bytes, got {len(raw)}")
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _normalise_env(cls, value: object) -> object:
        return normalise_env(value) if isinstance(value, str) else value

    @field_validator("encryption_keys")
    @classmethod
    def _no_development_key_in_production(
        cls, value: list[SecretStr], info: ValidationInfo
    ) -> list[SecretStr]:
        if _production(info) and any(key.get_secret_value() == DEV_ENCRYPTION_KEY for key in value):
            raise ValueError("the development default must not be used in production")
        return value

    @field_validator(*MIN_SECRET_CHARS)
    @classmethod
    def _strong_secret_in_production(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        if not _production(info):
            return value
        name = str(info.field_name)
        text = value.get_secret_value()
        problem = secret_problem(text, MIN_SECRET_CHARS[name], DEVELOPMENT_VALUES)
        if problem is None and name == "stripe_api_key" and "_test_" in text[:8]:
            problem = "a Stripe test-mode key is not allowed in production"
        if problem:
            raise ValueError(problem)
        return value

    @field_validator(*DEVELOPMENT_IDENTIFIERS)
    @classmethod
    def _real_identifier_in_production(cls, value: str, info: ValidationInfo) -> str:
        if _production(info):
            problem = required_problem(value, DEVELOPMENT_VALUES)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator(*GATEWAY_URLS)
    @classmethod
    def _live_gateway_in_production(cls, value: str, info: ValidationInfo) -> str:
        if _production(info):
            problem = gateway_url_problem(value, named=GATEWAY_URLS[str(info.field_name)])
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("database_urls", "temporal_address")
    @classmethod
    def _no_embedded_stack_in_production(cls, value: object, info: ValidationInfo) -> object:
        if _production(info) and not value:
            raise ValueError("required in production (empty means the embedded dev stack)")
        return value

    @property
    def embedded_postgres(self) -> bool:
        return not self.database_urls

    @property
    def embedded_temporal(self) -> bool:
        return not self.temporal_address

    @property
    def resolved_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    def shard_urls(self) -> list[str]:
        """DSNs of every shard; for the embedded stack, one database per shard."""
        if self.database_urls:
            return list(self.database_urls)
        from paysaga.stack.credentials import embedded_postgres_url

        return [
            embedded_postgres_url(self.data_dir, self.postgres_port, f"paysaga_shard_{i}")
            for i in range(self.shard_count)
        ]

    def _sandbox(self, setting: str, port: int) -> str:
        # Validation refuses an empty base URL in production; this keeps any other way of
        # building Settings from quietly sending live traffic to the local sandbox.
        if self.env == PRODUCTION:
            raise ConfigurationError(
                f"PAYSAGA_{setting.upper()}: required in production",
                field=f"PAYSAGA_{setting.upper()}",
            )
        return f"http://127.0.0.1:{port}"

    def api_key_pepper_bytes(self) -> bytes:
        """The API key pepper; an empty one means the development pepper outside production."""
        value = self.api_key_pepper.get_secret_value()
        if not value:
            if self.env == PRODUCTION:
                raise ConfigurationError(
                    "PAYSAGA_API_KEY_PEPPER: required in production", field="PAYSAGA_API_KEY_PEPPER"
                )
            value = DEV_API_KEY_PEPPER
        return value.encode()

    def stripe_base(self) -> str:
        return self.stripe_api_base or self._sandbox("stripe_api_base", self.sandbox_stripe_port)

    def search_lag_bounds(self) -> dict[str, float]:
        """Per card gateway, seconds after a failed request before a search miss counts."""
        return {"stripe": self.stripe_search_lag_s, "braintree": self.braintree_search_lag_s}

    def braintree_base(self) -> str:
        return self.braintree_base_url or self._sandbox(
            "braintree_base_url", self.sandbox_braintree_port
        )

    def plaid_base(self) -> str:
        return self.plaid_base_url or self._sandbox("plaid_base_url", self.sandbox_plaid_port)

    def plaid_webhook(self) -> str | None:
        if self.plaid_webhook_url:
            return self.plaid_webhook_url
        if self.env == "production":
            return None
        return f"http://127.0.0.1:{self.api_port}/webhooks/plaid"

    def encryption_key_material(self) -> list[tuple[str, bytes]]:
        """(key id, 32-byte key) pairs, the encrypting key first."""
        pairs = []
        for secret in self.encryption_keys:
            key_id, _, encoded = secret.get_secret_value().partition(":")
            pairs.append((key_id, base64.b64decode(encoded)))
        return pairs


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation failures into one message naming every setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise configuration_error(exc) from None


def configuration_error(exc: ValidationError) -> ConfigurationError:
    """One message, one line per bad setting (the value itself is never shown)."""
    problems: dict[str, list[str]] = {}
    for error in exc.errors():
        name = "PAYSAGA_" + str(error["loc"][0]).upper() if error["loc"] else "PAYSAGA_*"
        message = str(error["msg"]).removeprefix("Value error, ")
        if message not in problems.setdefault(name, []):
            problems[name].append(message)
    lines = [f"{name}: {'; '.join(messages)}" for name, messages in problems.items()]
    if len(lines) == 1:
        return ConfigurationError(lines[0], field=next(iter(problems)))
    production = any("production" in line for line in lines)
    header = "refusing to start in production" if production else "invalid settings"
    return ConfigurationError(
        f"{header}, {len(lines)} settings to fix:\n  " + "\n  ".join(lines),
        field=", ".join(problems),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
