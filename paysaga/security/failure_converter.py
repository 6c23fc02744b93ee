"""Failures that stay readable in the Web UI: encrypted, and small enough to keep.

Like the SDK's DefaultFailureConverterWithEncodedAttributes, each failure's message and
stack trace move into an encoded-attributes payload that the codec encrypts. Unlike it,
each failure is trimmed first: the server replaces an activity's last failure larger
than a few KiB with "Failure exceeds size limit", which under chaos hid *why* a payment
was retrying (an SDK error chain, encrypted, with full tracebacks at every level). The
full traceback is still in the worker's (redacted) log. A missing decryption key
(UnknownEncryptionKey) stays readable: its message names only the key id. Card numbers
are masked at every level too: a cause is often the gateway SDK's own error, quoting
what the gateway said.
"""

from __future__ import annotations

from typing import Final

import temporalio.api.failure.v1
from temporalio.converter import DefaultFailureConverter, PayloadConverter

from paysaga.domain.pan import mask_pans
from paysaga.security.errors import UnknownEncryptionKey

MAX_MESSAGE_CHARS: Final = 400
MAX_STACK_TRACE_CHARS: Final = 500  # the innermost frames: where it was raised
MAX_CAUSES: Final = 2  # the failure, its cause and the cause's cause
ENCODED_MESSAGE: Final = "Encoded failure"


class CompactEncryptedFailureConverter(DefaultFailureConverter):
    def __init__(self) -> None:
        super().__init__(encode_common_attributes=False)  # we encode, after trimming

    def to_failure(
        self,
        exception: BaseException,
        payload_converter: PayloadConverter,
        failure: temporalio.api.failure.v1.Failure,
    ) -> None:
        # The base class recurses into this method for each cause, so every level of
        # the chain is trimmed and encoded by the time we get here.
        super().to_failure(exception, payload_converter, failure)
        _cut_chain(failure, MAX_CAUSES)
        if failure.HasField("encoded_attributes"):
            return  # a failure proto passed through as is (already encoded upstream)
        if isinstance(exception, UnknownEncryptionKey):
            # Left readable: it carries only a key id, and whoever reads it (a query's
            # caller, the Web UI) may lack the keys to decode it: "Encoded failure" would
            # hide which key is missing.
            return
        failure.encoded_attributes.CopyFrom(
            payload_converter.to_payloads(
                [
                    {
                        "message": _head(mask_pans(failure.message), MAX_MESSAGE_CHARS),
                        "stack_trace": _tail(mask_pans(failure.stack_trace), MAX_STACK_TRACE_CHARS),
                    }
                ]
            )[0]
        )
        failure.message = ENCODED_MESSAGE
        failure.stack_trace = ""


def _cut_chain(failure: temporalio.api.failure.v1.Failure, keep: int) -> None:
    node = failure
    for _ in range(keep):
        if not node.HasField("cause"):
            return
        node = node.cause
    if node.HasField("cause"):
        node.ClearField("cause")


def _head(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]
