"""Issue 14 item 1: what counts as a card number (domain.pan), and what does not."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

import pytest

from paysaga.domain.pan import (
    CardNumberNotAccepted,
    contains_pan,
    find_pans,
    luhn_ok,
    mask_pans,
    pan_field,
    refuse_card_numbers,
)

# Stripe's test cards: Visa, Mastercard, Visa debit, American Express.
TEST_CARDS = ("4242424242424242", "5555555555554444", "4000056655665556", "378282246310005")


@pytest.mark.parametrize("card", TEST_CARDS)
def test_test_cards_are_found_bare_grouped_and_inside_text(card: str) -> None:
    assert luhn_ok(card)
    groups = (
        [card[:4], card[4:10], card[10:]]
        if len(card) == 15
        else [card[i : i + 4] for i in range(0, 16, 4)]
    )
    for sep in (" ", "-", "."):
        grouped = sep.join(groups)
        assert contains_pan(grouped), grouped
        assert contains_pan(f"order for {grouped}, thanks"), grouped
    for text in (
        card,
        f"pm_{card}",
        f"cus-{card}",
        f"card{card}",
        f"Your card number {card} was declined.",
        f"{card}.",
        f"x{card}",
        f"payment-mer_0123456789abcd17.{card}",  # an id, not a decimal fraction
        f"000{card}",  # zeros in front: still that card
        " ".join(groups[:2]) + "-" + ".".join(groups[2:]),  # mixed separators
    ):
        assert contains_pan(text), text
        masked = mask_pans(text)
        assert card not in masked.replace(" ", "").replace("-", "").replace(".", "")
        assert f"[PAN ****{card[-4:]}]" in masked


@pytest.mark.parametrize("length", range(12, 20))
def test_every_length_from_12_to_19_is_found_when_luhn_valid(length: int) -> None:
    body = "4" + "1" * (length - 2)
    card = next(body + d for d in "0123456789" if luhn_ok(body + d))
    assert contains_pan(card)
    assert find_pans(f"ref {card} end")[0].digits == card


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # last digit off: Luhn fails
        "5555555555554445",
        "123456789012",  # 12 digits, not Luhn-valid
        "1234567890123456789",  # 19 digits, not Luhn-valid
        "42424242424",  # 11 digits, Luhn-valid but too short
        "4242424242424242424242",  # 22 digits: no card is that long
        "000000000000",  # zeros pass Luhn; not a card
        "000000012345674",  # a zero-padded reference
        "4242 4242",
        "2024-01-15 10.30.45",
        "192.168.100.200",
        "+1 415-555-0100",
        "0.4242424242424242",  # a float's repr, not a card
        '{"lag_s": 0.4242424242424242}',
        "latency 12.5555555555554444 s",
        "order 1234 and 5678",
        "",
    ],
)
def test_other_numbers_are_not_cards(text: str) -> None:
    assert not contains_pan(text)
    assert mask_pans(text) == text


def test_digits_inside_identifiers_are_not_cards() -> None:
    # A UUID whose last group is all digits and Luhn-valid; hashes and uuid4().hex.
    assert not contains_pan("9f8b0c1e-2d3a-4b5c-8d7e-424242424242")
    assert not contains_pan("deadbeef4242424242424242cafe")
    assert not contains_pan("\\x00ab4242424242424242ff")
    rng = random.Random(14)
    for _ in range(20_000):
        value = uuid.UUID(int=rng.getrandbits(128), version=4)
        assert not contains_pan(str(value)) and not contains_pan(value.hex), value


def test_mask_keeps_the_rest_of_the_text() -> None:
    text = "declined 4242 4242 4242 4242 and 5555-5555-5555-4444; ref 123456"
    assert mask_pans(text) == "declined [PAN ****4242] and [PAN ****4444]; ref 123456"


def test_refusal_names_the_field_never_the_value() -> None:
    @dataclass(frozen=True)
    class Inner:
        note: str

    @dataclass(frozen=True)
    class Request:
        key: str
        inner: Inner
        tags: tuple[str, ...] = ()

    assert pan_field(Request("k", Inner("fine"), ("a", "b"))) is None
    with pytest.raises(CardNumberNotAccepted) as caught:
        refuse_card_numbers(Request("k", Inner("card 4000 0566 5566 5556")))
    assert caught.value.field == "inner.note"
    assert caught.value.code == "card_number_not_accepted"
    assert "Stripe Elements" in caught.value.message and "Braintree Drop-in" in caught.value.message
    assert "5556" not in caught.value.message
    assert pan_field({"metadata": {"4242424242424242": "x"}}) == "metadata"
    assert pan_field({"lines": ["ok", "378282246310005"]}) == "lines.1"
