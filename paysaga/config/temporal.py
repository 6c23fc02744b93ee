"""The one place that builds Temporal clients; workers built from them inherit the codec.

Every client gets the encrypting data converter: payloads are AES-GCM encrypted
by EncryptionCodec, and failure messages and stack traces are moved into an
encoded attributes payload so they are encrypted too (trimmed first, so the server
keeps them: see security.failure_converter).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from datetime import timedelta
from typing import Any, NoReturn

import structlog
from temporalio.client import Client
from temporalio.converter import DataConverter

from paysaga.config.settings import Settings, get_settings
from paysaga.domain.errors import ConfigurationError
from paysaga.security.codec import EncryptionCodec
from paysaga.security.failure_converter import CompactEncryptedFailureConverter
from paysaga.security.keyring import Keyring

log = structlog.get_logger()

CONNECT_TIMEOUT = timedelta(seconds=5)


def data_converter(
    settings: Settings | None = None, keyring: Keyring | None = None
) -> DataConverter:
    """The encrypting data converter (also for replayers and tests)."""
    ring = keyring or Keyring.from_settings(settings or get_settings())
    return DataConverter(
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=CompactEncryptedFailureConverter,
    )


async def connect_client(
    settings: Settings | None = None,
    *,
    address: str | None = None,
    namespace: str | None = None,
    **kwargs: Any,
) -> Client:
    """Connect to Temporal with the encrypting converter; a clear error if unreachable."""
    settings = settings or get_settings()
    target = address or settings.resolved_temporal_address
    kwargs.setdefault("data_converter", data_converter(settings))
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
    try:
        client = await Client.connect(
            target, namespace=namespace or settings.temporal_namespace, **kwargs
        )
    except (RuntimeError, OSError) as exc:
        raise ConfigurationError(
            f"PAYSAGA_TEMPORAL_ADDRESS: cannot reach Temporal at {target} ({exc})",
            field="PAYSAGA_TEMPORAL_ADDRESS",
        ) from exc
    log.debug("temporal.connected", address=target, namespace=client.namespace)
    return client


def exit_skipping_finalization(code: int) -> NoReturn:
    """End a process that used a Temporal client, without interpreter finalization.

    The SDK's Rust runtime threads may still call into Python while the interpreter
    finalizes, which aborts the process with SIGABRT ("PyGILState_Release",
    temporalio/sdk-python#300) after an otherwise clean shutdown. By the time this is
    called everything of ours is closed; flush what is buffered and leave.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to flush
            stream.flush()
    os._exit(code)
