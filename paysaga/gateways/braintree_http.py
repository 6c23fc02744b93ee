"""The braintree SDK's HTTP layer as we configure it: split timeouts, Retry-After, our key.

`Configuration(http_strategy=...)` is the SDK's supported extension point;
`_make_request` hands the strategy the full URL, headers and body.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import braintree
from braintree.util.http import Http

from paysaga.domain.errors import ConfigurationError
from paysaga.gateways.transport import retry_after_seconds

# Braintree defines no idempotency header. Our local sandbox honours this one (replays
# the stored answer for a repeated key); Braintree itself is not known to read it.
IDEMPOTENCY_HEADER = "X-Idempotency-Key"

_idempotency_key: ContextVar[str | None] = ContextVar("braintree_idempotency_key", default=None)


@contextmanager
def sending_key(key: str | None) -> Iterator[None]:
    """Send `key` in IDEMPOTENCY_HEADER on the requests made inside (None: no header)."""
    token = _idempotency_key.set(key)
    try:
        yield
    finally:
        _idempotency_key.reset(token)


class SplitTimeoutHttp(Http):  # type: ignore[misc]
    """The SDK's http strategy with a connect timeout apart from the read timeout.

    The SDK has one timeout for both; apart, "never reached the gateway" (a connect
    timeout: Unavailable) and "sent, no answer" (a read timeout: OutcomeUnknown for a
    write) stay distinguishable. Also keeps the last Retry-After per thread, which the
    SDK's exceptions drop.
    """

    connect_timeout_s = 3.0

    def __init__(self, config: Any, environment: Any) -> None:
        super().__init__(config, environment)
        self.last = threading.local()  # Retry-After of the last answer, per thread

    def http_do(
        self, http_verb: str, path: str, headers: dict[str, Any], request_body: Any
    ) -> list[Any]:
        headers = dict(headers)
        key = _idempotency_key.get()
        if key is not None:
            headers[IDEMPOTENCY_HEADER] = key
        data, files = request_body if isinstance(request_body, tuple) else (request_body, None)
        verify = self.environment.ssl_certificate if self.environment.is_ssl else False
        response = self._get_session().request(
            http_verb,
            path,
            headers=headers,
            data=data,
            files=files,
            verify=verify,
            timeout=(self.connect_timeout_s, self.config.timeout),
        )
        self.last.retry_after = response.headers.get("Retry-After")
        return [response.status_code, response.text]

    def retry_after(self) -> float | None:
        """Retry-After (seconds) of this thread's last answer, if it had a usable one."""
        return retry_after_seconds(getattr(self.last, "retry_after", None))


def http_strategy(connect_timeout_s: float) -> Callable[[Any, Any], SplitTimeoutHttp]:
    """The `http_strategy` factory for braintree.Configuration."""

    def strategy(config: Any, environment: Any) -> SplitTimeoutHttp:
        http = SplitTimeoutHttp(config, environment)
        http.connect_timeout_s = connect_timeout_s
        return http

    return strategy


def environment(base_url: str) -> Any:
    """A braintree.Environment for a URL, or the named "sandbox" / "production" ones.

    The SDK picks the scheme from the port alone ("443" -> https, anything else
    -> http), so a loopback sandbox works with a plain Environment instance and
    `is_ssl=False`; no subclass is needed.
    """
    if base_url in ("sandbox", "production"):
        return braintree.Environment.parse_environment(base_url)
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"not a Braintree base URL: {base_url!r}", field="PAYSAGA_BRAINTREE_BASE_URL"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if (parts.scheme == "https") != (port == 443):
        raise ConfigurationError(
            "the braintree SDK uses https exactly on port 443", field="PAYSAGA_BRAINTREE_BASE_URL"
        )
    ssl = parts.scheme == "https"
    certificate = braintree.Environment.Production.ssl_certificate if ssl else None
    return braintree.Environment("paysaga", parts.hostname, str(port), base_url, ssl, certificate)
