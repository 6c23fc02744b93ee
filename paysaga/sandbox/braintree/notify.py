"""Braintree webhook notifications, signed exactly as the SDK's WebhookTesting does.

bt_payload is base64 (with the SDK's 76-column line breaks) of a `<notification>`
document; bt_signature is `public_key|hex(hmac_sha1(sha1(private_key), bt_payload))`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from paysaga.sandbox.braintree.xml_codec import DATETIME_FORMAT, element


def sign(payload: bytes, public_key: str, private_key: str) -> str:
    key = hashlib.sha1(private_key.encode()).digest()  # noqa: S324 - Braintree's scheme
    digest = hmac.new(key, payload, hashlib.sha1).hexdigest()
    return f"{public_key}|{digest}"


def notification(
    kind: str,
    subject_tag: str,
    subject: dict[str, Any],
    *,
    public_key: str,
    private_key: str,
    timestamp: datetime | None = None,
) -> dict[str, str]:
    """`{"bt_signature": ..., "bt_payload": ...}` for one notification."""
    stamp = (timestamp or datetime.now(UTC)).astimezone(UTC).strftime(DATETIME_FORMAT)
    xml = (
        "<notification>"
        f'<timestamp type="datetime">{stamp}</timestamp>'
        f"<kind>{kind}</kind>"
        f"<subject>{element(subject_tag, subject)}</subject>"
        "</notification>"
    )
    payload = base64.encodebytes(xml.encode())
    return {
        "bt_signature": sign(payload, public_key, private_key),
        "bt_payload": payload.decode("ascii"),
    }


def form_body(fields: dict[str, str]) -> bytes:
    """The form Braintree POSTs to a webhook URL."""
    return urlencode(fields).encode("ascii")
