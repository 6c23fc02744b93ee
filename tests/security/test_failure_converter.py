"""Failures are encrypted and small: a deep SDK error chain still fits the server's limit."""

from __future__ import annotations

import temporalio.api.failure.v1
from temporalio.exceptions import ApplicationError

from paysaga.config.settings import load_settings
from paysaga.config.temporal import data_converter
from paysaga.security.failure_converter import MAX_CAUSES, MAX_STACK_TRACE_CHARS

SERVER_FAILURE_LIMIT = 4 * 1024  # an activity's last failure above this is replaced


def _deep_error(depth: int) -> BaseException:
    def recurse(level: int) -> None:
        if level == 0:
            raise ConnectionError("sandbox reset the connection " + "x" * 2000)
        try:
            recurse(level - 1)
        except BaseException as exc:
            raise RuntimeError(f"level {level} failed: " + "y" * 500) from exc

    try:
        try:
            recurse(depth)
        except BaseException as exc:
            raise ApplicationError("gateway unavailable", type="Unavailable") from exc
    except ApplicationError as top:
        return top
    raise AssertionError("unreachable")


async def _encode(error: BaseException) -> temporalio.api.failure.v1.Failure:
    converter = data_converter(load_settings())
    failure = temporalio.api.failure.v1.Failure()
    await converter.encode_failure(error, failure)
    return failure


async def test_a_deep_chain_is_trimmed_under_the_server_limit() -> None:
    failure = await _encode(_deep_error(depth=6))
    assert failure.ByteSize() < SERVER_FAILURE_LIMIT
    depth, node = 0, failure
    while node.HasField("cause"):
        depth, node = depth + 1, node.cause
    assert depth == MAX_CAUSES


async def test_messages_and_stack_traces_are_encrypted_and_come_back() -> None:
    failure = await _encode(_deep_error(depth=1))
    raw = failure.SerializeToString()
    assert b"gateway unavailable" not in raw and b"level 1 failed" not in raw
    assert failure.message == "Encoded failure" and failure.stack_trace == ""
    assert failure.application_failure_info.type == "Unavailable"  # still filterable

    decoded = await data_converter(load_settings()).decode_failure(failure)
    assert isinstance(decoded, ApplicationError)
    assert decoded.message == "gateway unavailable"
    assert decoded.type == "Unavailable"
    assert decoded.cause is not None and "level 1 failed" in str(decoded.cause)


async def test_the_innermost_frames_are_kept() -> None:
    failure = await _encode(_deep_error(depth=0))
    converter = data_converter(load_settings())
    decoded = await converter.decode_failure(failure.cause)
    assert "sandbox reset the connection" in str(decoded)
    payload = await converter.payload_codec.decode([failure.encoded_attributes])  # type: ignore[union-attr]
    stack = converter.payload_converter.from_payloads(payload)[0]["stack_trace"]
    assert 0 < len(stack) <= MAX_STACK_TRACE_CHARS
    assert "_deep_error" in stack  # the frame that raised it
