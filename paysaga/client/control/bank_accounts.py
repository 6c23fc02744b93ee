"""Bank accounts on the control database: recorded by onboardings, resolved by payments.

Every read is scoped to a merchant: another merchant's bank account is not found, never
forbidden, so ids of other merchants' accounts cannot be probed. `usable_for` is the one
check a bank payment passes before anything is started or sent to a gateway.
"""

from __future__ import annotations

from typing import Final

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from paysaga.client.control.schema import BankAccountRow
from paysaga.client.errors import (
    BankAccountDisabled,
    BankAccountNotCustomers,
    BankAccountNotFound,
    BankAccountNotVerified,
)
from paysaga.client.ids import CUSTOMER_ID_RE, check
from paysaga.domain.bank_accounts import (
    BANK_ACCOUNT_ID_RE,
    BankAccount,
    BankAccountStatus,
    NameMatch,
    RecordBankAccountInput,
)
from paysaga.domain.errors import ValidationError

log = structlog.get_logger(__name__)

MAX_REASON: Final = 200


def _account(row: BankAccountRow) -> BankAccount:
    return BankAccount(
        bank_account_id=row.id,
        merchant_id=row.merchant_id,
        customer_id=row.customer_id,
        onboarding_id=row.onboarding_id,
        currency=row.currency,
        status=BankAccountStatus(row.status),
        owner_name_match=NameMatch(row.owner_name_match),
        gateway=row.gateway,
        gateway_customer_ref=row.gateway_customer_ref,
        payment_method_ref=row.payment_method_ref,
        plaid_item_id=row.plaid_item_id,
        plaid_account_id=row.plaid_account_id,
        plaid_access_token_ref=row.plaid_access_token_ref,
        last4=row.last4,
        institution_name=row.institution_name,
        account_subtype=row.account_subtype,
        created_at=row.created_at,
        status_changed_at=row.status_changed_at,
        status_reason=row.status_reason,
    )


def _not_found(bank_account_id: str) -> BankAccountNotFound:
    return BankAccountNotFound(f"no bank account {bank_account_id[:60]!r}", field="bank_account_id")


def usable_for(account: BankAccount, customer_id: str) -> None:
    """Raise unless `customer_id`'s payment may debit `account` (already the merchant's)."""
    if account.customer_id != customer_id:
        raise BankAccountNotCustomers(
            f"bank account {account.bank_account_id} belongs to another customer of this merchant",
            field="bank_account_id",
        )
    if account.status == BankAccountStatus.DISABLED:
        raise BankAccountDisabled(
            f"bank account {account.bank_account_id} is disabled", field="bank_account_id"
        )
    if account.status != BankAccountStatus.VERIFIED:
        raise BankAccountNotVerified(
            f"bank account {account.bank_account_id} is {account.status}: its owner's name "
            f"could not be checked ({account.owner_name_match}); verify it first",
            field="bank_account_id",
        )


class BankAccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def record(self, request: RecordBankAccountInput) -> BankAccount:
        """Store the onboarding's bank account once; recording it again returns the first."""
        values = {
            "id": request.bank_account_id,
            "merchant_id": request.merchant_id,
            "customer_id": request.customer_id,
            "onboarding_id": request.onboarding_id,
            "currency": request.currency,
            "status": BankAccountStatus(request.status).value,
            "owner_name_match": NameMatch(request.owner_name_match).value,
            "gateway": request.gateway,
            "gateway_customer_ref": request.gateway_customer_ref,
            "payment_method_ref": request.payment_method_ref,
            "plaid_item_id": request.plaid_item_id,
            "plaid_account_id": request.plaid_account_id,
            "plaid_access_token_ref": request.plaid_access_token_ref,
            "last4": request.last4,
            "institution_name": request.institution_name,
            "account_subtype": request.account_subtype,
        }
        try:
            async with self._sessions.begin() as session:
                await session.execute(
                    insert(BankAccountRow).values(**values).on_conflict_do_nothing()
                )
                row = await session.get(BankAccountRow, request.bank_account_id)
        except IntegrityError as exc:  # e.g. a merchant that does not exist
            raise ValidationError(
                f"bank account not recorded: {type(exc.orig).__name__}", field="merchant_id"
            ) from None
        if row is None or row.onboarding_id != request.onboarding_id:
            # Another onboarding holds this id (never: ids derive from onboarding ids).
            raise ValidationError("bank account id already taken", field="bank_account_id")
        log.info(
            "bank_account.recorded",
            bank_account_id=row.id,
            merchant_id=row.merchant_id,
            status=row.status,
        )
        return _account(row)

    async def get(self, merchant_id: str, bank_account_id: str) -> BankAccount:
        """The merchant's bank account; anyone else's (or none) is BankAccountNotFound."""
        if not isinstance(bank_account_id, str) or not BANK_ACCOUNT_ID_RE.fullmatch(
            bank_account_id
        ):
            raise ValidationError(
                "not a valid bank account id (bank_ + 24 hex digits)", field="bank_account_id"
            )
        async with self._sessions() as session:
            row = await session.get(BankAccountRow, bank_account_id)
        if row is None or row.merchant_id != merchant_id:
            raise _not_found(bank_account_id)
        return _account(row)

    async def list(
        self, merchant_id: str, *, customer_id: str | None = None, limit: int = 100
    ) -> list[BankAccount]:
        query = select(BankAccountRow).where(BankAccountRow.merchant_id == merchant_id)
        if customer_id is not None:
            check(CUSTOMER_ID_RE, customer_id, "customer_id", "customer id")
            query = query.where(BankAccountRow.customer_id == customer_id)
        if not 1 <= limit <= 1000:
            raise ValidationError("limit must be between 1 and 1000", field="limit")
        query = query.order_by(BankAccountRow.created_at.desc(), BankAccountRow.id).limit(limit)
        async with self._sessions() as session:
            rows = (await session.execute(query)).scalars().all()
        return [_account(row) for row in rows]

    async def disable(self, merchant_id: str, bank_account_id: str, reason: str) -> BankAccount:
        """Disable for good (the customer revoked the mandate, the account closed...).
        Disabling twice keeps the first time and reason."""
        return await self._move(
            merchant_id, bank_account_id, BankAccountStatus.DISABLED, reason or "disabled"
        )

    async def verify(self, merchant_id: str, bank_account_id: str, reason: str) -> BankAccount:
        """Mark an unverified account verified after the merchant's own check of its owner."""
        return await self._move(
            merchant_id, bank_account_id, BankAccountStatus.VERIFIED, reason or "verified"
        )

    async def _move(
        self, merchant_id: str, bank_account_id: str, to: BankAccountStatus, reason: str
    ) -> BankAccount:
        if len(reason) > MAX_REASON:
            raise ValidationError(f"reason must be at most {MAX_REASON} characters", field="reason")
        account = await self.get(merchant_id, bank_account_id)
        if account.status == to:
            return account
        async with self._sessions.begin() as session:
            # Disabled is final: no move leaves it, whatever ran concurrently.
            await session.execute(
                update(BankAccountRow)
                .where(
                    BankAccountRow.id == bank_account_id,
                    BankAccountRow.merchant_id == merchant_id,
                    BankAccountRow.status != BankAccountStatus.DISABLED.value,
                )
                .values(status=to.value, status_reason=reason, status_changed_at=func.now())
            )
        moved = await self.get(merchant_id, bank_account_id)
        if moved.status != to:
            raise BankAccountDisabled(
                f"bank account {bank_account_id} is disabled for good", field="bank_account_id"
            )
        log.info(
            "bank_account.status_changed",
            bank_account_id=bank_account_id,
            merchant_id=merchant_id,
            status=str(to),
        )
        return moved
