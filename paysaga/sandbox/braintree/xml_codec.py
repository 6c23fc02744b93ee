"""The Braintree gateway's XML dialect, written and read by the sandbox.

Written from what the SDK's `util/parser.py` reads: dashed tag names, `type`
attributes for integer / boolean / datetime / date / array, `nil="true"` for
None. Requests from the SDK use underscored tag names (its generator does not
dasherize); both spellings parse to the same underscored keys.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class MalformedXml(ValueError):
    """The request body is not XML the gateway accepts."""


@dataclass(frozen=True)
class Array:
    """An array whose items carry a tag of their own (`<status-history type="array">`)."""

    item_tag: str
    items: Sequence[Any]


@dataclass(frozen=True)
class Collection:
    """Fields plus repeated same-tag children: `<credit-card-transactions>`' shape."""

    fields: Mapping[str, Any]
    item_tag: str
    items: Sequence[Any]


def dumps(root: str, value: Any) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + element(root, value)).encode()


def element(name: str, value: Any) -> str:
    """One element and its children, as text (for embedding in a notification)."""
    return _element(name, value)


def _tag(name: str) -> str:
    return name.replace("_", "-")


def _element(name: str, value: Any) -> str:
    tag = _tag(name)
    if value is None:
        return f'<{tag} nil="true"/>'
    if isinstance(value, bool):
        return f'<{tag} type="boolean">{"true" if value else "false"}</{tag}>'
    if isinstance(value, int):
        return f'<{tag} type="integer">{value}</{tag}>'
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC).strftime(DATETIME_FORMAT)
        return f'<{tag} type="datetime">{stamp}</{tag}>'
    if isinstance(value, date):
        return f'<{tag} type="date">{value.isoformat()}</{tag}>'
    if isinstance(value, str | Decimal):
        return f"<{tag}>{escape(str(value))}</{tag}>"
    if isinstance(value, Array):
        inner = "".join(_element(value.item_tag, item) for item in value.items)
        return f'<{tag} type="array">{inner}</{tag}>'
    if isinstance(value, list | tuple):
        inner = "".join(_element("item", item) for item in value)
        return f'<{tag} type="array">{inner}</{tag}>'
    if isinstance(value, Collection):
        inner = "".join(_element(key, item) for key, item in value.fields.items())
        inner += "".join(_element(value.item_tag, item) for item in value.items)
        return f'<{tag} type="collection">{inner}</{tag}>'
    if isinstance(value, Mapping):
        inner = "".join(_element(key, item) for key, item in value.items())
        return f"<{tag}>{inner}</{tag}>"
    raise TypeError(f"cannot encode {type(value).__name__} as Braintree XML")


def loads(body: bytes) -> tuple[str, Any]:
    """Parse a request body into (root key, value) with underscored keys."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        # No DTDs at all: nothing to expand, nothing external to fetch.
        raise MalformedXml("DTDs are not accepted")
    try:
        root = ET.fromstring(body)  # noqa: S314 - DTD-free input, stdlib expat
    except ET.ParseError as exc:
        raise MalformedXml(f"malformed XML: {exc}") from None
    return _key(root.tag), _value(root)


def _key(tag: str) -> str:
    return tag.replace("-", "_")


def _value(node: ET.Element) -> Any:
    kind = node.get("type")
    children = list(node)
    if kind == "array":
        return [_value(child) for child in children]
    if node.get("nil") == "true":
        return None
    if not children:
        return _scalar(kind, (node.text or "").strip())
    result: dict[str, Any] = {}
    for child in children:
        key = _key(child.tag)
        item = _value(child)
        if key in result:
            previous = result[key]
            result[key] = [*previous, item] if isinstance(previous, list) else [previous, item]
        else:
            result[key] = item
    return result


def _scalar(kind: str | None, text: str) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "boolean":
            return text in ("true", "1")
        if kind == "datetime":
            return datetime.strptime(text, DATETIME_FORMAT).replace(tzinfo=UTC)
        if kind == "date":
            return date.fromisoformat(text)
    except ValueError:
        raise MalformedXml(f"{text!r} is not a valid {kind}") from None
    return text
