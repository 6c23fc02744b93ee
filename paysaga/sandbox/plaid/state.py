"""In-memory Plaid sandbox: link tokens, items, accounts, access and processor tokens."""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from paysaga.sandbox import testdata

Obj = dict[str, Any]

INSTITUTIONS = {testdata.PLAID_INSTITUTION_ID: "First Platypus Bank"}


class PlaidApiError(Exception):
    def __init__(self, status: int, error_type: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.code = code

    def body(self, request_id: str) -> Obj:
        return {
            "error_type": self.error_type,
            "error_code": self.code,
            "error_message": str(self),
            "display_message": None,
            "request_id": request_id,
            "causes": [],
            "status": self.status,
            "documentation_url": f"https://plaid.com/docs/errors/#{self.code.lower()}",
            "suggested_action": None,
        }


def invalid_input(code: str, message: str) -> PlaidApiError:
    return PlaidApiError(400, "INVALID_INPUT", code, message)


def invalid_request(code: str, message: str) -> PlaidApiError:
    return PlaidApiError(400, "INVALID_REQUEST", code, message)


@dataclass
class Item:
    item_id: str
    institution_id: str
    webhook: str | None
    products: list[str]
    accounts: list[Obj]
    numbers: dict[str, tuple[str, str]]  # account id -> (account number, routing)
    access_token: str | None = None
    processor_tokens: dict[str, str] = field(default_factory=dict)
    owners: dict[str, list[str]] = field(default_factory=dict)  # account id -> owner names


def _account(
    name: str,
    subtype: str,
    mask: str,
    available: float | None,
    current: float | None,
    currency: str = "USD",
    official_name: str | None = None,
) -> Obj:
    return {
        "account_id": secrets.token_urlsafe(24).replace("-", "a").replace("_", "b"),
        "balances": {
            "available": available,
            "current": current,
            "limit": None,
            "iso_currency_code": currency,
            "unofficial_currency_code": None,
            "last_updated_datetime": None,
        },
        "mask": mask,
        "name": name,
        "official_name": official_name or f"Plaid {name}",
        "type": "depository",
        "subtype": subtype,
    }


# Plaid's custom Sandbox user: username `user_custom`, the configuration object as the
# password (https://plaid.com/docs/sandbox/user-custom/). Only what this sandbox models
# is read from each of `override_accounts`: subtype, starting_balance (current),
# force_available_balance (available), currency, meta.name / official_name / mask,
# identity.names, numbers.account / ach_routing.
CUSTOM_USERNAME = "user_custom"


def _object(spec: Obj, name: str) -> Obj:
    value = spec.get(name)
    return value if isinstance(value, dict) else {}


def _custom_accounts(password: str) -> list[tuple[Obj, tuple[str, str], list[str]]]:
    try:
        config = json.loads(password)
    except ValueError:
        config = None
    if not isinstance(config, dict) or not isinstance(config.get("override_accounts", []), list):
        raise invalid_input(
            "INVALID_FIELD", "override_password is not a custom Sandbox user configuration"
        )
    specs = config.get("override_accounts") or [{"subtype": "checking"}]
    out = []
    for index, raw in enumerate(specs):
        spec: Obj = raw if isinstance(raw, dict) else {}
        meta, numbers, identity = (_object(spec, name) for name in ("meta", "numbers", "identity"))
        subtype = str(spec.get("subtype") or "checking")
        current = spec.get("starting_balance", 100)
        available = spec.get("force_available_balance", current)
        account_number = str(numbers.get("account") or f"1111222233{index:04d}")
        mask = str(meta.get("mask") or account_number[-4:])
        names = identity.get("names", [testdata.PLAID_SANDBOX_OWNER_NAME])
        account = _account(
            str(meta.get("name") or f"Custom {subtype}"),
            subtype,
            mask,
            available,
            current,
            str(spec.get("currency") or "USD"),
            meta.get("official_name"),
        )
        routing = str(numbers.get("ach_routing") or "011401533")
        out.append((account, (account_number, routing), [str(n) for n in names]))
    return out


class PlaidState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.link_tokens: dict[str, str | None] = {}  # token -> webhook
        self.public_tokens: dict[str, str] = {}  # public token -> item id
        self.items: dict[str, Item] = {}
        self.by_access: dict[str, str] = {}  # access token -> item id
        self.counts = {
            "items": 0,
            "exchanges": 0,
            "processor_tokens": 0,
            "webhooks_queued": 0,
            "balance_requests": 0,
        }

    def create_link_token(self, webhook: str | None) -> Obj:
        token = f"link-sandbox-{uuid.uuid4()}"
        with self.lock:
            self.link_tokens[token] = webhook
        expiration = datetime.now(UTC) + timedelta(hours=4)
        return {"link_token": token, "expiration": expiration.isoformat().replace("+00:00", "Z")}

    def create_public_token(
        self,
        institution_id: str,
        products: list[str],
        webhook: str | None,
        username: str,
        password: str,
    ) -> tuple[str, Item]:
        if institution_id not in INSTITUTIONS:
            raise invalid_input("INVALID_INSTITUTION", f"unknown institution_id {institution_id}")
        if username == CUSTOM_USERNAME:
            custom = _custom_accounts(password)
        elif (username, password) == (testdata.PLAID_USERNAME, testdata.PLAID_PASSWORD):
            # user_good's accounts as Plaid's Sandbox has them: checking 100 available /
            # 110 current, savings 200 / 210.
            owner = [testdata.PLAID_SANDBOX_OWNER_NAME]
            checking = _account("Plaid Checking", "checking", "0000", 100.0, 110.0)
            saving = _account("Plaid Saving", "savings", "1111", 200.0, 210.0)
            custom = [
                (a, (f"1111222233{a['mask']}", "011401533"), owner) for a in (checking, saving)
            ]
        else:
            raise PlaidApiError(
                400,
                "ITEM_ERROR",
                "INVALID_CREDENTIALS",
                "the provided credentials were not correct",
            )
        accounts = [account for account, _, _ in custom]
        item = Item(
            item_id=secrets.token_urlsafe(24).replace("-", "c").replace("_", "d"),
            institution_id=institution_id,
            webhook=webhook,
            products=products or ["auth"],
            accounts=accounts,
            numbers={account["account_id"]: numbers for account, numbers, _ in custom},
            owners={account["account_id"]: names for account, _, names in custom},
        )
        public_token = f"public-sandbox-{uuid.uuid4()}"
        with self.lock:
            self.items[item.item_id] = item
            self.public_tokens[public_token] = item.item_id
            self.counts["items"] += 1
        return public_token, item

    def exchange(self, public_token: str) -> Item:
        with self.lock:
            item_id = self.public_tokens.get(public_token)
            if item_id is None:
                raise invalid_input(
                    "INVALID_PUBLIC_TOKEN",
                    "provided public token is in an invalid format or expired",
                )
            item = self.items[item_id]
            # A repeated exchange returns the same access token, so retries are harmless.
            if item.access_token is None:
                item.access_token = f"access-sandbox-{uuid.uuid4()}"
                self.by_access[item.access_token] = item.item_id
            self.counts["exchanges"] += 1
            return item

    def item_for(self, access_token: str) -> Item:
        with self.lock:
            item_id = self.by_access.get(access_token)
            if item_id is None:
                raise invalid_input(
                    "INVALID_ACCESS_TOKEN", "provided access token is in an invalid format"
                )
            return self.items[item_id]

    def processor_token(self, access_token: str, account_id: str) -> str:
        item = self.item_for(access_token)
        if account_id not in item.numbers:
            raise invalid_input("INVALID_ACCOUNT_ID", "the provided account_id is not valid")
        with self.lock:
            if account_id not in item.processor_tokens:
                item.processor_tokens[account_id] = "btok_" + secrets.token_hex(12)
                self.counts["processor_tokens"] += 1
            return item.processor_tokens[account_id]

    @staticmethod
    def item_json(item: Item) -> Obj:
        return {
            "item_id": item.item_id,
            "institution_id": item.institution_id,
            "institution_name": INSTITUTIONS[item.institution_id],
            "webhook": item.webhook,
            "error": None,
            "available_products": ["balance", "identity"],
            "billed_products": list(item.products),
            "products": list(item.products),
            "consented_products": list(item.products),
            "consent_expiration_time": None,
            "update_type": "background",
        }

    @staticmethod
    def accounts_json(item: Item, account_ids: list[str] | None) -> list[Obj]:
        return [
            copy.deepcopy(a)
            for a in item.accounts
            if not account_ids or a["account_id"] in account_ids
        ]

    @staticmethod
    def owner(names: list[str]) -> Obj:
        return {
            "names": list(names),
            "emails": [{"data": "accountholder0@example.com", "primary": True, "type": "primary"}],
            "phone_numbers": [{"data": "1112223333", "primary": False, "type": "home"}],
            "addresses": [
                {
                    "data": {
                        "city": "Malakoff",
                        "region": "NY",
                        "street": "2992 Cameron Road",
                        "postal_code": "14236",
                        "country": "US",
                    },
                    "primary": True,
                }
            ],
        }

    def stats(self) -> Obj:
        with self.lock:
            return {**self.counts, "at": int(time.time())}
