"""The Braintree gateway API the sandbox serves: each path's operation.

An operation takes the request and its parsed XML parameters and returns a Result;
the server's pipeline (auth, faults, idempotency, encoding) runs around it.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import Route

from paysaga.sandbox.braintree import search, settlement, webhooks
from paysaga.sandbox.braintree.render import Result
from paysaga.sandbox.faults import OpKind

if TYPE_CHECKING:
    from paysaga.sandbox.braintree.server import BraintreeSandbox

Op = Callable[["BraintreeSandbox", Request, Any], Result]

_TESTING_ACTIONS = ("settle", "settlement_confirm", "settlement_decline", "settlement_pending")


def create_transaction(sandbox: BraintreeSandbox, request: Request, params: Any) -> Result:
    return Result(201, "transaction", sandbox.store.sale(params))


def find_transaction(sandbox: BraintreeSandbox, request: Request, params: Any) -> Result:
    return Result(200, "transaction", sandbox.store.find(request.path_params["id"]))


def submit(sandbox: BraintreeSandbox, request: Request, params: Any) -> Result:
    txn = sandbox.store.submit_for_settlement(request.path_params["id"], params)
    return Result(200, "transaction", txn)


def void(sandbox: BraintreeSandbox, request: Request, params: Any) -> Result:
    return Result(200, "transaction", sandbox.store.void(request.path_params["id"]))


def refund(sandbox: BraintreeSandbox, request: Request, params: Any) -> Result:
    credit = sandbox.store.refund(request.path_params["id"], params)
    return Result(201, "transaction", credit)


def testing(sandbox: BraintreeSandbox, request: Request, params: Any) -> Result:
    action = request.url.path.rsplit("/", 1)[-1]
    txn = settlement.testing_transition(sandbox.store, request.path_params["id"], action)
    if txn.status == "settled":
        webhooks.settled(sandbox, [txn])
    elif txn.status == "settlement_declined":
        webhooks.transaction(sandbox, "transaction_settlement_declined", txn)
    return Result(200, "transaction", sandbox.store.render_txn(txn))


def search_ids(sandbox: BraintreeSandbox, request: Request, params: Any) -> Result:
    return search.search_ids(sandbox.store, params)


def search_page(sandbox: BraintreeSandbox, request: Request, params: Any) -> Result:
    return search.search(sandbox.store, params)


def create_customer(sandbox: BraintreeSandbox, request: Request, params: Any) -> Result:
    return Result(201, "customer", sandbox.store.create_customer(params))


def find_customer(sandbox: BraintreeSandbox, request: Request, params: Any) -> Result:
    return Result(200, "customer", sandbox.store.find_customer(request.path_params["id"]))


def create_payment_method(sandbox: BraintreeSandbox, request: Request, params: Any) -> Result:
    return Result(201, "credit_card", sandbox.store.create_payment_method(params))


def find_payment_method(sandbox: BraintreeSandbox, request: Request, params: Any) -> Result:
    card = sandbox.store.find_payment_method(request.path_params["id"])
    return Result(200, "credit_card", card)


def client_token(sandbox: BraintreeSandbox, request: Request, params: Any) -> Result:
    section = params
    customer_id = section.get("customer_id")
    if customer_id is not None:
        sandbox.store.find_customer(str(customer_id))  # 404 for an unknown customer
    merchant_id = sandbox.settings.braintree_merchant_id
    fingerprint = secrets.token_hex(32)
    token = {
        "version": section.get("version", 2),
        "authorizationFingerprint": fingerprint,
        "configUrl": f"{request.base_url}merchants/{merchant_id}/client_api/v1/configuration",
        "merchantId": merchant_id,
        "environment": "development",
    }
    value = base64.b64encode(json.dumps(token).encode()).decode()
    return Result(201, "client_token", {"value": value})


def api_routes(sandbox: BraintreeSandbox) -> list[Route]:
    base = "/merchants/{merchant_id}"
    txn = base + "/transactions/{id}"
    # (path, operation, HTTP method, mutating: may fail after its side effect)
    table: list[tuple[str, Op, str, bool]] = [
        (base + "/transactions", create_transaction, "POST", True),
        (base + "/transactions/advanced_search_ids", search_ids, "POST", False),
        (base + "/transactions/advanced_search", search_page, "POST", False),
        (txn, find_transaction, "GET", False),
        (txn + "/submit_for_settlement", submit, "PUT", True),
        (txn + "/void", void, "PUT", True),
        (txn + "/refund", refund, "POST", True),
        *[(txn + "/" + action, testing, "PUT", True) for action in _TESTING_ACTIONS],
        (base + "/customers", create_customer, "POST", True),
        (base + "/customers/{id}", find_customer, "GET", False),
        (base + "/payment_methods", create_payment_method, "POST", True),
        (base + "/payment_methods/any/{id}", find_payment_method, "GET", False),
        (base + "/client_token", client_token, "POST", True),
    ]
    kinds: dict[Op, OpKind] = {submit: "capture", refund: "refund"}  # their own faults
    return [
        Route(path, sandbox.endpoint(op, mutating=mutating, kind=kinds.get(op)), methods=[method])
        for path, op, method, mutating in table
    ]
