"""Plaid client on the official `plaid-python` SDK: link, exchange, auth, identity, balance,
processor.

One ApiClient per instance (no global configuration); urllib3 retries are off
and every call has a timeout. SDK exceptions map into gateways.errors.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import plaid
import structlog
import urllib3
from plaid.api import plaid_api
from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest
from plaid.model.accounts_balance_get_request_options import AccountsBalanceGetRequestOptions
from plaid.model.auth_get_request import AuthGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.identity_get_request import IdentityGetRequest
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.processor_stripe_bank_account_token_create_request import (
    ProcessorStripeBankAccountTokenCreateRequest,
)
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)
from plaid.model.webhook_verification_key_get_request import WebhookVerificationKeyGetRequest

from paysaga.config.settings import Settings
from paysaga.domain.money import CURRENCY_EXPONENTS
from paysaga.gateways.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    OutcomeUnknown,
    RateLimited,
    Unavailable,
)

log = structlog.get_logger()
T = TypeVar("T")
NAME = "plaid"


@dataclass(frozen=True)
class PlaidItem:
    item_id: str
    access_token: str


@dataclass(frozen=True)
class BankAccount:
    account_id: str
    name: str
    mask: str | None
    subtype: str
    account_number: str
    routing_number: str
    institution_name: str | None = None  # the Item's institution (Plaid's `item` object)


@dataclass(frozen=True)
class AccountOwner:
    account_id: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Balance:
    """An account's balance in minor units (None: the institution did not report it)."""

    account_id: str
    available_minor: int | None
    current_minor: int | None
    currency: str | None


def to_minor(amount: Any, currency: str | None) -> int | None:
    """Plaid's decimal amount (a JSON number, a float in the SDK) in minor units, exactly:
    through its shortest decimal text, never float arithmetic."""
    if amount is None or currency is None:
        return None
    try:
        value = Decimal(str(amount)).scaleb(CURRENCY_EXPONENTS.get(currency, 2))
    except InvalidOperation:
        return None
    return int(value.to_integral_value())


def _network_error(exc: Exception) -> GatewayError:
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    if isinstance(
        reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
    ):
        return Unavailable(f"plaid unreachable ({type(reason).__name__})", gateway=NAME)
    return OutcomeUnknown(f"plaid request outcome unknown ({type(reason).__name__})", gateway=NAME)


def map_plaid_error(exc: plaid.ApiException) -> GatewayError:
    status = int(exc.status or 0)
    try:
        body = json.loads(exc.body or b"{}")
    except ValueError:
        body = {}
    error_type = str(body.get("error_type", ""))
    code = str(body.get("error_code", ""))
    message = f"{code or 'PLAID_ERROR'}: {body.get('error_message', exc.reason)}"
    kw: dict[str, Any] = {
        "gateway": NAME,
        "http_status": status,
        "request_id": body.get("request_id"),
    }
    if code == "INVALID_API_KEYS" or status in (401, 403):
        return AuthenticationFailed(message, **kw)
    if status == 429 or error_type == "RATE_LIMIT_EXCEEDED":
        retry_after = (exc.headers or {}).get("Retry-After")
        return RateLimited(message, retry_after=float(retry_after) if retry_after else None, **kw)
    if status >= 500 or error_type in ("API_ERROR", "INSTITUTION_ERROR"):
        return Unavailable(message, **kw)
    return InvalidRequest(message, field=code or None, **kw)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except plaid.ApiException as exc:
        mapped = map_plaid_error(exc)
        log.info("plaid_error", error=type(mapped).__name__, http_status=mapped.http_status)
        raise mapped from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _network_error(exc) from exc


class PlaidClient:
    def __init__(
        self,
        client_id: str,
        secret: str,
        *,
        host: str = plaid.Environment.Sandbox,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
    ) -> None:
        configuration = plaid.Configuration(
            host=host, api_key={"clientId": client_id, "secret": secret}
        )
        configuration.retries = False  # type: ignore[assignment]  # retries live in workflows
        self._api_client = plaid.ApiClient(configuration)
        self._api = plaid_api.PlaidApi(self._api_client)
        self._timeout = (connect_timeout_s, timeout_s)

    @classmethod
    def from_settings(cls, settings: Settings) -> PlaidClient:
        return cls(
            settings.plaid_client_id,
            settings.plaid_secret.get_secret_value(),
            host=settings.plaid_base(),
        )

    def close(self) -> None:
        self._api_client.close()

    def _call(self, fn: Callable[..., T], request: Any) -> T:
        with _translated():
            return fn(request, _request_timeout=self._timeout)

    def create_link_token(
        self,
        client_user_id: str,
        *,
        client_name: str = "paysaga",
        webhook: str | None = None,
        redirect_uri: str | None = None,
    ) -> str:
        """`webhook`: where Plaid sends the Item's webhooks; `redirect_uri`: where OAuth
        institutions send the user back to (must be registered in Plaid's dashboard)."""
        kwargs: dict[str, Any] = {"webhook": webhook} if webhook else {}
        if redirect_uri:
            kwargs["redirect_uri"] = redirect_uri
        request = LinkTokenCreateRequest(
            user=LinkTokenCreateRequestUser(client_user_id=client_user_id),
            client_name=client_name,
            products=[Products("auth"), Products("identity")],
            country_codes=[CountryCode("US")],
            language="en",
            **kwargs,
        )
        return str(self._call(self._api.link_token_create, request).link_token)

    def sandbox_public_token(
        self,
        institution_id: str,
        *,
        webhook: str | None = None,
        username: str = "user_good",  # Plaid's documented sandbox credentials
        password: str = "pass_good",  # noqa: S107
    ) -> str:
        """What Link would return after the user logs in (Plaid sandbox only)."""
        options: dict[str, Any] = {"override_username": username, "override_password": password}
        if webhook:
            options["webhook"] = webhook
        request = SandboxPublicTokenCreateRequest(
            institution_id=institution_id,
            initial_products=[Products("auth"), Products("identity")],
            options=SandboxPublicTokenCreateRequestOptions(**options),
        )
        return str(self._call(self._api.sandbox_public_token_create, request).public_token)

    def exchange_public_token(self, public_token: str) -> PlaidItem:
        response = self._call(
            self._api.item_public_token_exchange,
            ItemPublicTokenExchangeRequest(public_token=public_token),
        )
        return PlaidItem(item_id=str(response.item_id), access_token=str(response.access_token))

    def get_auth(self, access_token: str) -> list[BankAccount]:
        response = self._call(self._api.auth_get, AuthGetRequest(access_token=access_token))
        numbers = {n.account_id: n for n in response.numbers.ach}
        institution = response.item.get("institution_name")
        return [
            BankAccount(
                account_id=str(a.account_id),
                name=str(a.name),
                mask=a.mask,
                subtype=str(a.subtype),
                account_number=str(numbers[a.account_id].account),
                routing_number=str(numbers[a.account_id].routing),
                institution_name=str(institution) if institution else None,
            )
            for a in response.accounts
            if a.account_id in numbers
        ]

    def get_identity(self, access_token: str) -> list[AccountOwner]:
        response = self._call(self._api.identity_get, IdentityGetRequest(access_token=access_token))
        return [
            AccountOwner(
                account_id=str(a.account_id),
                names=tuple(str(n) for owner in a.owners for n in owner.names),
            )
            for a in response.accounts
        ]

    def get_balance(self, access_token: str, account_id: str) -> Balance:
        """Real-time balance of one account (/accounts/balance/get: Plaid asks the bank)."""
        response = self._call(
            self._api.accounts_balance_get,
            AccountsBalanceGetRequest(
                access_token=access_token,
                options=AccountsBalanceGetRequestOptions(account_ids=[account_id]),
            ),
        )
        for account in response.accounts:
            if account.account_id != account_id:
                continue
            balances = account.balances
            currency = balances.iso_currency_code
            return Balance(
                account_id=account_id,
                available_minor=to_minor(balances.available, currency),
                current_minor=to_minor(balances.current, currency),
                currency=str(currency) if currency else None,
            )
        raise InvalidRequest(
            f"plaid returned no balance for account {account_id[:12]}...",
            field="INVALID_ACCOUNT_ID",
            gateway=NAME,
        )

    def create_stripe_bank_account_token(self, access_token: str, account_id: str) -> str:
        response = self._call(
            self._api.processor_stripe_bank_account_token_create,
            ProcessorStripeBankAccountTokenCreateRequest(
                access_token=access_token, account_id=account_id
            ),
        )
        return str(response.stripe_bank_account_token)

    def webhook_verification_key(self, key_id: str) -> dict[str, Any]:
        """The JWK for a webhook's `kid`, as PlaidWebhookVerifier wants it."""
        response = self._call(
            self._api.webhook_verification_key_get,
            WebhookVerificationKeyGetRequest(key_id=key_id),
        )
        key = response.key
        return {
            "alg": key.alg,
            "crv": key.crv,
            "kid": key.kid,
            "kty": key.kty,
            "use": key.use,
            "x": key.x,
            "y": key.y,
            "created_at": key.created_at,
            "expired_at": key.expired_at,
        }
