"""Bank accounts and bank payments, the pure parts: the owner-name match (the README's
examples), ids, the balance verdict, and request digests that stay what they were for
requests not using the new fields (a key first used before the upgrade still replays)."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from paysaga.api.schemas import CreatePaymentBody
from paysaga.client.control.idempotency import body_hash
from paysaga.client.starts import request_digest
from paysaga.domain.bank_accounts import (
    BANK_ACCOUNT_ID_RE,
    BalanceCheckResult,
    BankAccountRef,
    NameMatch,
    bank_account_id_for,
)
from paysaga.domain.onboarding import match_owner_name, names_match
from paysaga.domain.payments import PaymentOptions, PaymentRequest

OWNER = "Alberta Bobbeth Charleson"  # the Plaid sandbox's account owner


@pytest.mark.parametrize(
    ("customer", "owners", "expected"),
    [
        ("Alberta Bobbeth Charleson", (OWNER,), NameMatch.EXACT),
        ("charleson, ALBERTA bobbeth", (OWNER,), NameMatch.EXACT),
        ("Charleson Bobbeth Alberta", (OWNER,), NameMatch.EXACT),
        ("Alberta Charleson", (OWNER,), NameMatch.PARTIAL),
        ("Alberta B. Charleson", (OWNER,), NameMatch.PARTIAL),
        ("Bobbeth Charleson", (OWNER,), NameMatch.PARTIAL),
        ("Alberta", (OWNER,), NameMatch.MISMATCH),
        ("Alberta Smith", (OWNER,), NameMatch.MISMATCH),
        ("Jane Doe", (OWNER,), NameMatch.MISMATCH),
        ("Jane Doe", ("Someone Else", "Jane Q Doe"), NameMatch.PARTIAL),
        ("Jane Doe", (), NameMatch.UNAVAILABLE),
        ("Jane Doe", ("", " "), NameMatch.UNAVAILABLE),
    ],
)
def test_owner_name_match(customer: str, owners: tuple[str, ...], expected: NameMatch) -> None:
    assert match_owner_name(customer, owners) is expected
    # The pass/fail of onboardings recorded before the grades is unchanged.
    assert names_match(customer, owners) is (expected in (NameMatch.EXACT, NameMatch.PARTIAL))


def test_bank_account_id_derives_from_the_onboarding() -> None:
    first = bank_account_id_for("onboarding-mer_0123456789abcdef.k1")
    assert BANK_ACCOUNT_ID_RE.fullmatch(first)
    assert first == bank_account_id_for("onboarding-mer_0123456789abcdef.k1")
    assert first != bank_account_id_for("onboarding-mer_0123456789abcdef.k2")


@pytest.mark.parametrize(
    ("available", "current", "currency", "covers"),
    [
        (2050, 3000, "USD", True),
        (2049, 3000, "USD", False),
        (None, 2050, "USD", True),  # no available balance: current is the figure
        (None, None, "USD", False),  # no balance at all covers nothing
        (9999, 9999, "CAD", False),  # another currency covers nothing
        (2050, None, None, True),
    ],
)
def test_balance_covers(
    available: int | None, current: int | None, currency: str | None, covers: bool
) -> None:
    assert BalanceCheckResult(available, current, currency).covers(2050, "USD") is covers


def test_request_digest_unchanged_for_requests_without_the_new_fields() -> None:
    """Before bank payments the digest was the hash of `asdict(request)`; a card request
    still hashes so (else a retried key from before the upgrade were a conflict)."""
    request = PaymentRequest(
        "mer_0123456789abcdef.k", "mer_0123456789abcdef", "c", 1500, "USD", "pm"
    )
    before = asdict(request)
    del before["bank_account"]
    del before["options"]["balance_check"]
    assert request_digest(request) == body_hash(before)
    bank = PaymentRequest(
        "mer_0123456789abcdef.k",
        "mer_0123456789abcdef",
        "c",
        1500,
        "USD",
        "ba_1",
        method_type="ach",
        options=PaymentOptions(balance_check=True),
        bank_account=BankAccountRef("bank_1", "plaid-access:o", "acc"),
    )
    assert request_digest(bank) == body_hash(asdict(bank))  # used fields are hashed


def test_idempotency_body_of_a_card_payment_is_unchanged() -> None:
    body = {"amount_minor": 1500, "currency": "USD", "customer_id": "c", "payment_method": "pm"}
    model = CreatePaymentBody.model_validate(body)
    before = {**body, "gateway": None, "capture": False, "description": ""}
    assert model.idempotency_body() == before
    bank = CreatePaymentBody.model_validate(
        {**body, "payment_method": None, "bank_account_id": "bank_" + "a" * 24}
    )
    assert "payment_method" not in bank.idempotency_body()
    assert bank.idempotency_body()["bank_account_id"] == "bank_" + "a" * 24
