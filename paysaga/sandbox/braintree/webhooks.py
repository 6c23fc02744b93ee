"""The webhooks the Braintree sandbox sends: a settled or declined transaction, and a
disbursement per merchant account for each settled batch (signed in `notify`).

Nothing is sent while the fault config has no `webhook_url`.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from paysaga.sandbox.braintree import notify
from paysaga.sandbox.braintree.amounts import format_amount
from paysaga.sandbox.braintree.model import Txn

if TYPE_CHECKING:
    from paysaga.sandbox.braintree.server import BraintreeSandbox


def settled(sandbox: BraintreeSandbox, txns: list[Txn]) -> None:
    for txn in txns:
        transaction(sandbox, "transaction_settled", txn)
    url = sandbox.injector.config.webhook_url
    if not url:
        return
    by_account: dict[str, list[Txn]] = {}
    for txn in txns:
        by_account.setdefault(txn.merchant_account_id, []).append(txn)
    for account, batch in by_account.items():
        disbursement_id = secrets.token_hex(4)
        currency = batch[0].currency
        net = sum(t.amount_minor if t.type == "sale" else -t.amount_minor for t in batch)
        subject = {
            "id": disbursement_id,
            "transaction_ids": [t.id for t in batch],
            "success": True,
            "retry": False,
            "merchant_account": {
                "id": account,
                "currency_iso_code": currency,
                "sub_merchant_account": False,
                "status": "active",
            },
            "amount": format_amount(net, currency),
            "disbursement_date": batch[0].disbursement_date,
            "exception_message": None,
            "follow_up_action": None,
        }
        _deliver(
            sandbox, "disbursement", "disbursement", subject, f"disbursement:{disbursement_id}"
        )


def transaction(sandbox: BraintreeSandbox, kind: str, txn: Txn) -> None:
    _deliver(sandbox, kind, "transaction", sandbox.store.render_txn(txn), f"{kind}:{txn.id}")


def _deliver(
    sandbox: BraintreeSandbox, kind: str, tag: str, subject: dict[str, Any], event_id: str
) -> None:
    url = sandbox.injector.config.webhook_url
    if not url:
        return
    fields = notify.notification(
        kind,
        tag,
        subject,
        public_key=sandbox.settings.braintree_public_key,
        private_key=sandbox.settings.braintree_private_key,
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    sandbox.sender.send(url, notify.form_body(fields), headers, event_id)
    sandbox.counters["webhooks_queued"] += 1
