"""The `malformed_response` fault: a 200 whose body drifted from what the client reads.

API versions drift: a field the integration reads goes missing, or comes back in
another shape (an amount becomes an object, an expanded object comes back as a bare
id, an id comes back expanded). The side effect has happened by then, so a client
that crashes on the body must still treat the outcome as unknown.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any


def malform(
    body: dict[str, Any], fields: Sequence[str], pick: Callable[[int], int]
) -> dict[str, Any]:
    """A copy of `body` with one of `fields` dropped or retyped; `pick(n)` < n chooses."""
    present = [name for name in fields if name in body]
    if not present:
        return body
    out = copy.deepcopy(body)
    name = present[pick(len(present))]
    value = out[name]
    if pick(2) == 0 or value is None:
        del out[name]
    else:
        out[name] = retyped(value)
    return out


def retyped(value: Any) -> Any:
    """The same information in a shape of another type."""
    if isinstance(value, dict):
        return value.get("id", str(value))  # expanded object -> bare id
    if isinstance(value, str):
        return {"id": value, "object": "unknown"}  # id -> expanded-looking object
    return {"value": value}  # number -> amount object (as in newer API versions)


def drifted_fields(
    real: dict[str, Any], drifted: dict[str, Any], fields: Sequence[str]
) -> list[str]:
    """Which of `fields` differ in presence or type between a real body and a drifted one."""
    return [
        name
        for name in fields
        if name in real and (name not in drifted or type(drifted[name]) is not type(real[name]))
    ]
