"""Masks card numbers, tokens and secrets before anything is logged.

Two passes: keys whose name says "secret" have their value replaced whole, and
every string value is scanned for things that look like a PAN or a credential.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from paysaga.domain.pan import mask_pans

MASK = "[REDACTED]"

SENSITIVE_KEY = re.compile(
    r"(secret|password|passwd|token|api_key|apikey|private_key|authorization|"
    r"card_number|cardnumber|pan|cvc|cvv|access_token|public_token|signature|codec_key|"
    r"account_number|routing_number)",
    re.IGNORECASE,
)
# Keys that contain a sensitive word but are safe identifiers.
SAFE_KEYS = frozenset({"idempotency_key", "token_type", "key_id", "pending_entry_id"})

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Stripe secret/restricted/publishable keys and webhook secrets.
    (re.compile(r"\b(sk|rk|pk)_(live|test)_[A-Za-z0-9_]{6,}"), r"\1_\2_" + MASK),
    (re.compile(r"\bwhsec_[A-Za-z0-9_]{6,}"), "whsec_" + MASK),
    # Plaid access / public / processor tokens.
    (
        re.compile(
            r"\b(access|public|processor|link)-(sandbox|development|production)-[A-Za-z0-9-]{6,}"
        ),
        r"\1-\2-" + MASK,
    ),
    # Our own merchant API keys: keep the public key id, mask the secret part.
    (re.compile(r"\b(psk_(?:live|test)_[0-9a-f]{16})_[A-Za-z0-9]{6,}"), r"\1_" + MASK),
    # Bearer credentials in headers or messages.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    # PEM private keys.
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
        MASK,
    ),
)


def redact_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return mask_pans(text)  # the same card-number rule as the API's refusal


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item) for item in value)
    return value


def _is_sensitive_key(key: object) -> bool:
    return isinstance(key, str) and key not in SAFE_KEYS and bool(SENSITIVE_KEY.search(key))


def redact_mapping(mapping: Mapping[Any, Any]) -> dict[Any, Any]:
    return {
        key: (MASK if _is_sensitive_key(key) and value not in (None, "") else redact_value(value))
        for key, value in mapping.items()
    }


def redaction_processor(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor; runs last before rendering so nothing escapes it."""
    return redact_mapping(event_dict)
