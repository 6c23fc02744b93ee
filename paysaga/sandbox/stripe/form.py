"""Stripe's form encoding: `metadata[k]=v`, `expand[0]=x` / `expand[]=x`, `created[gte]=1`."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_PART = re.compile(r"\[([^\]]*)\]")


class FormError(ValueError):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def parse_form(raw: str) -> dict[str, Any]:
    """Nested dicts for `a[b]`, lists for `a[]` / `a[0]`; values stay strings."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head, *_PART.findall("[" + rest)] if rest else [head]
        _assign(result, parts, value, key)
    return _listify(result)


def _assign(target: dict[str, Any], parts: list[str], value: str, key: str) -> None:
    node = target
    for part in parts[:-1]:
        name = part if part else str(len(node))
        child = node.setdefault(name, {})
        if not isinstance(child, dict):
            raise FormError(f"Invalid parameter: {key}", key)
        node = child
    last = parts[-1] if parts[-1] else str(len(node))
    node[last] = value


def _listify(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            value = _listify(value)
            if value and all(k.isdigit() for k in value):
                value = [value[k] for k in sorted(value, key=int)]
        out[key] = value
    return out


def get_int(params: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise FormError(f"Missing required param: {name}.", name)
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"-?\d+", raw):
        raise FormError(f"Invalid integer: {raw}", name)
    return int(raw)


def get_str(params: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise FormError(f"Missing required param: {name}.", name)
        return None
    if not isinstance(raw, str):
        raise FormError(f"Invalid string: {name}", name)
    return raw


def get_bool(params: dict[str, Any], name: str) -> bool:
    raw = params.get(name)
    if raw in (None, "", "false"):
        return False
    if raw == "true":
        return True
    raise FormError(f"Invalid boolean: {raw}", name)


def get_dict(params: dict[str, Any], name: str) -> dict[str, str]:
    raw = params.get(name) or {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise FormError(f"Invalid hash: {name}", name)
    return dict(raw)


def get_list(params: dict[str, Any], name: str) -> list[str]:
    raw = params.get(name) or []
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise FormError(f"Invalid array: {name}", name)
    return list(raw)
