"""Card numbers (primary account numbers): find them, refuse them, mask them.

paysaga takes tokens only (Stripe PaymentMethods, Braintree nonces). A PAN here is 12 to
19 digits passing the Luhn check, written without separators or in groups joined by one
space, dash or dot each (`4242 4242 4242 4242`, `3782-822463-10005`: a first group of
four, then groups of three to seven). Leading zeros are not counted (no card number
starts with 0): a zero-padded reference is no card, a zero-prefixed card still is.

Digits inside an identifier are not taken for a card number: a UUID, or a word made of
hexadecimal characters with at least one letter (a hash, `uuid4().hex`, `\\x...` bytes);
nor is the fractional part of a decimal number (`0.30000000000000004`).
Without that exception one random UUID in a few thousand would be refused as a card.

Pure and deterministic: the API, the client, the workflows and the log redaction share it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from paysaga.domain.errors import ValidationError

MIN_DIGITS: Final = 12
MAX_DIGITS: Final = 19
SEPARATORS: Final = " .-"

CARD_NUMBER_MESSAGE: Final = (
    "looks like a card number; paysaga accepts tokens only: tokenize the card with "
    "Stripe Elements or Braintree Drop-in and send the payment method token or nonce"
)

# Digit groups joined by one separator each: where a card number may hide.
_RUN: Final = re.compile(r"\d+(?:[ .\-]\d+)*")
_GROUP: Final = re.compile(r"\d+")
_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_UUID_LEN: Final = 36


class CardNumberNotAccepted(ValidationError):
    """A value that looks like a card number where only tokens are accepted."""

    code = "card_number_not_accepted"

    def __init__(self, field: str) -> None:
        # Never the value itself: the message ends up in responses and histories.
        super().__init__(f"{field} {CARD_NUMBER_MESSAGE}", field=field)


@dataclass(frozen=True)
class PanMatch:
    start: int
    end: int
    digits: str

    @property
    def last4(self) -> str:
        return self.digits[-4:]


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def find_pans(text: str) -> list[PanMatch]:
    """Every card number in `text`, in order (overlapping candidates all reported)."""
    found: list[PanMatch] = []
    for run in _RUN.finditer(text):
        for start, end in _candidates(text, run.start(), run.end()):
            digits = "".join(str(int(c)) for c in text[start:end] if c not in SEPARATORS)
            digits = digits.lstrip("0")  # zeros in front change neither length nor Luhn sum
            if (
                MIN_DIGITS <= len(digits) <= MAX_DIGITS
                and luhn_ok(digits)
                and not _in_identifier(text, start, end)
            ):
                found.append(PanMatch(start, end, digits))
    return found


def contains_pan(text: str) -> bool:
    return bool(find_pans(text))


def mask_pans(text: str) -> str:
    """`text` with every card number replaced by `[PAN ****1234]` (its last four digits)."""
    matches = find_pans(text)
    if not matches:
        return text
    parts: list[str] = []
    cursor = 0
    for span_start, span_end, last4 in _merged(matches):
        parts += [text[cursor:span_start], f"[PAN ****{last4}]"]
        cursor = span_end
    parts.append(text[cursor:])
    return "".join(parts)


def mask_optional(text: str | None) -> str | None:
    return None if text is None else mask_pans(text)


def refuse_pan(value: object, field: str) -> None:
    """Raise CardNumberNotAccepted (422 `card_number_not_accepted`) if `value` holds one."""
    if isinstance(value, str) and contains_pan(value):
        raise CardNumberNotAccepted(field)


def pan_field(value: object, path: str = "") -> str | None:
    """The dotted path of the first string (or mapping key) in `value` holding a card
    number: dataclasses, mappings, lists and tuples are searched recursively."""
    for where, text in _strings(value, path):
        if contains_pan(text):
            return where or "value"
    return None


def refuse_card_numbers(value: object, path: str = "") -> None:
    """Refuse a request (a dataclass, a mapping) any string of which holds a card number."""
    field = pan_field(value, path)
    if field is not None:
        raise CardNumberNotAccepted(field)


def _strings(value: object, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _strings(getattr(value, item.name), _join(path, item.name))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and contains_pan(key):
                yield path or "body", key  # never echo the key: it is the card number
            yield from _strings(item, _join(path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, _join(path, str(index)))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _candidates(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Spans of one run of digit groups that have a card number's length and layout."""
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(text, start, end)]
    for i, (first_start, first_end) in enumerate(groups):
        length = first_end - first_start
        # find_pans counts the digits after leading zeros. Digits after "<number>." are a
        # decimal fraction (a float's repr has up to 17), not a card number; after
        # "<id>." (`mer_..7.4242...`) they are.
        if length >= MIN_DIGITS and not (i > 0 and _fraction(text, groups[i - 1][0], first_start)):
            yield first_start, first_end
        if length != 4 or i + 1 == len(groups):
            continue
        total = 4
        for group_start, group_end in groups[i + 1 :]:
            if not 3 <= group_end - group_start <= 7:
                break
            total += group_end - group_start
            if total > MAX_DIGITS:
                break
            if total >= MIN_DIGITS:
                yield first_start, group_end


def _fraction(text: str, whole_start: int, start: int) -> bool:
    before = text[whole_start - 1] if whole_start > 0 else " "
    return text[start - 1] == "." and not (before.isalnum() or before == "_")


def _in_identifier(text: str, start: int, end: int) -> bool:
    """Digits inside a UUID or glued into a hexadecimal word are part of an id."""
    window = (max(0, start - _UUID_LEN), min(len(text), end + _UUID_LEN))
    if any(u.start() < end and start < u.end() for u in _UUID.finditer(text, *window)):
        return True
    left = start
    while left > 0 and text[left - 1].isalnum():
        left -= 1
    right = end
    while right < len(text) and text[right].isalnum():
        right += 1
    before = text[left:start]
    for prefix in ("0x", "0X", "x", "X"):  # 0x0123... or \x0123... (bytea)
        if before.startswith(prefix):
            before = before[len(prefix) :]
            break
    glued = before + text[end:right]
    return bool(glued) and set(glued) <= _HEX and not glued.isdigit()


def _merged(matches: list[PanMatch]) -> Iterator[tuple[int, int, str]]:
    """Overlapping matches as one span (with the last four of the last one)."""
    ordered = sorted(matches, key=lambda m: (m.start, m.end))
    span_start, span_end, last4 = ordered[0].start, ordered[0].end, ordered[0].last4
    for match in ordered[1:]:
        if match.start < span_end:
            if match.end > span_end:
                span_end, last4 = match.end, match.last4
            continue
        yield span_start, span_end, last4
        span_start, span_end, last4 = match.start, match.end, match.last4
    yield span_start, span_end, last4
