"""Webhook authenticity: Stripe-Signature (timestamped HMAC) and Plaid's ES256 JWT.

Both verifiers raise WebhookVerificationError with a reason and never log the
secret or the signature. Braintree's bt_signature lives in braintree_webhooks.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from paysaga.domain.errors import PaysagaError
from paysaga.gateways.plaid_keys import KeyFetcher, KeyNotFound, PlaidKeyCache

STRIPE_TOLERANCE_S = 300
PLAID_MAX_AGE_S = 300


class WebhookVerificationError(PaysagaError):
    code = "webhook_signature_invalid"


# -- Stripe ------------------------------------------------------------------------------


def stripe_signature(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_stripe_signature(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance_s: int = STRIPE_TOLERANCE_S,
    now: float | None = None,
) -> dict[str, Any]:
    """Check `Stripe-Signature: t=...,v1=...[,v1=...]`; return the parsed event."""
    if not secret.strip():
        # Anyone can compute an HMAC under an empty key: with no secret, nothing verifies.
        raise WebhookVerificationError("no Stripe webhook secret is configured")
    if not header:
        raise WebhookVerificationError("missing Stripe-Signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise WebhookVerificationError("malformed timestamp") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookVerificationError("no timestamp or v1 signature in header")
    expected = stripe_signature(secret, body, timestamp)
    # Compare against every v1 (Stripe sends several while a secret is rolled).
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise WebhookVerificationError("signature does not match the body")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookVerificationError("timestamp outside the tolerance")
    try:
        event: dict[str, Any] = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("body is not JSON") from None
    return event


# -- Plaid -------------------------------------------------------------------------------


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("malformed JWT segment") from None


def _jwk_to_key(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise WebhookVerificationError("verification key is not an EC P-256 key")
    x = int.from_bytes(_b64url_decode(str(jwk["x"])), "big")
    y = int.from_bytes(_b64url_decode(str(jwk["y"])), "big")
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


class PlaidWebhookVerifier:
    """Verify `Plaid-Verification` JWTs; keys come from a PlaidKeyCache.

    `fetch_key(kid)` returns the JWK, e.g. PlaidClient.webhook_verification_key;
    `cache_options` tune the cache (throttle, negative TTL) for tests. Raises
    WebhookVerificationError for a token that does not verify (401) and
    plaid_keys.KeyUnavailable when the key cannot be had now (503, Plaid retries).
    """

    def __init__(
        self, fetch_key: KeyFetcher, *, max_age_s: int = PLAID_MAX_AGE_S, **cache_options: Any
    ) -> None:
        self._keys = PlaidKeyCache(fetch_key, **cache_options)
        self._max_age_s = max_age_s

    def _key(self, kid: str) -> tuple[ec.EllipticCurvePublicKey, int | None]:
        try:
            jwk = self._keys.get(kid)
        except KeyNotFound:  # Plaid does not know this kid: a forged token
            raise WebhookVerificationError("unknown verification key id") from None
        expired_at = jwk.get("expired_at")
        return _jwk_to_key(jwk), int(expired_at) if expired_at else None

    def verify(self, body: bytes, token: str | None, *, now: float | None = None) -> dict[str, Any]:
        if not token:
            raise WebhookVerificationError("missing Plaid-Verification header")
        parts = token.split(".")
        if len(parts) != 3:
            raise WebhookVerificationError("not a compact JWT")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
        except ValueError:
            raise WebhookVerificationError("JWT header or payload is not JSON") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise WebhookVerificationError("JWT header or payload is not an object")
        if header.get("alg") != "ES256":
            raise WebhookVerificationError("JWT alg must be ES256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise WebhookVerificationError("JWT has no kid")
        key, expired_at = self._key(kid)
        current = time.time() if now is None else now
        if expired_at is not None and expired_at < current:
            raise WebhookVerificationError("verification key expired")
        raw_sig = _b64url_decode(parts[2])
        if len(raw_sig) != 64:
            raise WebhookVerificationError("ES256 signature must be 64 bytes")
        der = encode_dss_signature(
            int.from_bytes(raw_sig[:32], "big"), int.from_bytes(raw_sig[32:], "big")
        )
        try:
            key.verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise WebhookVerificationError("JWT signature invalid") from None
        iat = claims.get("iat")
        if not isinstance(iat, int) or current - iat > self._max_age_s or iat - current > 60:
            raise WebhookVerificationError("JWT too old or issued in the future")
        expected = hashlib.sha256(body).hexdigest()
        claimed = claims.get("request_body_sha256")
        if not isinstance(claimed, str) or not hmac.compare_digest(expected, claimed):
            raise WebhookVerificationError("body hash does not match")
        try:
            payload: dict[str, Any] = json.loads(body)
        except ValueError:
            raise WebhookVerificationError("body is not JSON") from None
        return payload
