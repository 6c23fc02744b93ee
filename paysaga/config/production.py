"""What PAYSAGA_ENV=production refuses, so a misconfigured deployment fails closed at start.

Settings' validators call these checks for every setting at once, so one start-up
message names every bad setting. Nothing here ever echoes a secret's value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

PRODUCTION = "production"

# Spellings operators actually use; anything else is refused rather than guessed, so a
# typo such as "prodution" cannot quietly start with the development defaults.
ENV_ALIASES: dict[str, str] = {
    "production": PRODUCTION,
    "prod": PRODUCTION,
    "development": "development",
    "dev": "development",
    "test": "test",
    "testing": "test",
}

# Secrets we generate ourselves (pepper, codec token) get 32 characters, like the
# gateways' own: a Stripe webhook secret is whsec_ + 32, a Braintree private key 32 hex.
# Plaid's secrets are 30 hex characters, hence 24 for the gateway-issued ones.
MIN_SECRET_CHARS: dict[str, int] = {
    "api_key_pepper": 32,
    "codec_token": 32,
    "stripe_api_key": 32,
    "stripe_webhook_secret": 32,
    "braintree_private_key": 24,
    "plaid_secret": 24,
}
# A random secret of 24+ characters has far more distinct characters than this;
# "aaaa..." or "abababab..." does not.
MIN_DISTINCT_CHARS = 8


def normalise_env(value: str) -> str:
    """`prod`, ` Production ` and `production` all mean production."""
    key = value.strip().lower()
    if key not in ENV_ALIASES:
        raise ValueError(
            f"unknown environment {value.strip()!r}: use development, test or production "
            "(aliases: dev, testing, prod)"
        )
    return ENV_ALIASES[key]


def secret_problem(value: str, min_chars: int, development_values: Iterable[str]) -> str | None:
    """Why `value` is not a production secret, or None. Never includes the value."""
    if not value.strip():
        return f"required in production ({min_chars}+ random characters)"
    if value in set(development_values):
        return "the development default must not be used in production"
    if len(value) < min_chars:
        return f"too short for production: {len(value)} characters, at least {min_chars}"
    if len(set(value)) < MIN_DISTINCT_CHARS:
        return "too weak for production: use a random value"
    return None


def required_problem(value: str, development_values: Iterable[str]) -> str | None:
    """For non-secret identifiers (merchant id, client id): set and not a sandbox default."""
    if not value.strip():
        return "required in production"
    if value in set(development_values):
        return "the development default must not be used in production"
    return None


def gateway_url_problem(value: str, *, named: Iterable[str] = ()) -> str | None:
    """Why `value` is not a live gateway base URL: empty would mean the local sandbox."""
    text = value.strip()
    if not text:
        return "required in production (empty means the local sandbox)"
    if text in set(named):
        return None
    if text.lower() == "sandbox":
        return "a gateway's sandbox environment is not allowed in production"
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host:
        return "must be an https:// URL in production"
    if host == "localhost" or host.endswith(".localhost") or _is_local_address(host):
        return "a loopback address is the local sandbox, not allowed in production"
    if "sandbox" in host.split("."):
        return "a gateway's sandbox environment is not allowed in production"
    return None


def _is_local_address(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified or address.is_link_local
