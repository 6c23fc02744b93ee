"""The Stripe and Braintree sandboxes remember their charges across a restart."""

from __future__ import annotations

from pathlib import Path

import stripe

from paysaga.sandbox import persistence
from paysaga.sandbox.runner import SandboxServers
from tests.gateways.braintree_fixtures import make_gateway
from tests.gateways.conftest import SANDBOX_SETTINGS

# Written by the sandboxes before they became packages (commit 4f08d31), so it names
# classes by their old modules (paysaga.sandbox.stripe_state, ...). It holds a Stripe
# charge made under idempotency key "legacy-stripe-1" (1234 usd, payment_id
# pay_legacy_stripe), a held intent with a pending "drop" tamper, and a settled
# Braintree sale of 25.00 USD for order pay_legacy_braintree under key "legacy-bt-1".
BEFORE_SPLIT = Path(__file__).parent / "data" / "sandbox-state-before-split.pickle"


def _charge(client: stripe.StripeClient) -> stripe.PaymentIntent:
    """The same confirmed charge under the same idempotency key, every time."""
    return client.v1.payment_intents.create(
        params={
            "amount": 1234,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        },
        options={"idempotency_key": "persist-1"},
    )


def test_a_charge_survives_a_restart_of_the_sandboxes(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox-state.pickle"
    with SandboxServers(SANDBOX_SETTINGS) as first:
        client = stripe.StripeClient(
            SANDBOX_SETTINGS.stripe_api_key, base_addresses={"api": first.stripe_url}
        )
        intent = _charge(client)
        apps = first.apps()
    persistence.save(apps, state_file)

    with SandboxServers(SANDBOX_SETTINGS) as second:
        persistence.load(second.apps(), state_file)
        client = stripe.StripeClient(
            SANDBOX_SETTINGS.stripe_api_key, base_addresses={"api": second.stripe_url}
        )
        again = client.v1.payment_intents.retrieve(intent.id)
        assert (again.amount, again.status) == (1234, intent.status)
        # The idempotency store came back too: the same key replays, no second charge.
        replay = _charge(client)
        assert replay.id == intent.id
        # Locks were recreated, not copied in a held state: the store still takes writes.
        client.v1.payment_intents.create(
            params={"amount": 99, "currency": "usd", "payment_method": "pm_card_visa"},
        )


def test_an_unreadable_file_starts_empty(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox-state.pickle"
    state_file.write_bytes(b"not a pickle")
    with SandboxServers(SANDBOX_SETTINGS) as servers:
        persistence.load(servers.apps(), state_file)  # logged, not raised
        assert servers.apps()["stripe"].state.sandbox.state.intents == {}


def test_a_file_written_before_the_sandboxes_became_packages_still_loads() -> None:
    with SandboxServers(SANDBOX_SETTINGS) as servers:
        persistence.load(servers.apps(), BEFORE_SPLIT)
        client = stripe.StripeClient(
            SANDBOX_SETTINGS.stripe_api_key, base_addresses={"api": servers.stripe_url}
        )
        replay = client.v1.payment_intents.create(
            params={
                "amount": 1234,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
                "metadata": {"payment_id": "pay_legacy_stripe"},
            },
            options={"idempotency_key": "legacy-stripe-1"},
        )
        assert (replay.amount, replay.status) == (1234, "succeeded")
        assert client.v1.payment_intents.retrieve(replay.id).id == replay.id
        assert len(servers.app("stripe").state.sandbox.state.tampers) == 1
        gateway = make_gateway(servers.braintree_url)
        try:
            sale = gateway.lookup("pay_legacy_braintree")
            assert sale is not None
            assert (sale.amount_minor, sale.currency) == (2500, "USD")
        finally:
            gateway.close()
