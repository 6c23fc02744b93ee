"""JSON shapes of API responses: explicit, so internal workflow fields never leak.

Error texts (`last_error`, step details) are masked for card numbers once more here:
the workflows already mask what gateways say, this is the last edge before the wire.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from paysaga.client.types import PaymentSummary, ReconciliationStarted
from paysaga.domain.bank_accounts import BankAccount
from paysaga.domain.onboarding import OnboardingView
from paysaga.domain.pan import mask_optional, mask_pans
from paysaga.domain.payments import PaymentView, StepRecord
from paysaga.domain.refunds import RefundOutcome


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _steps(steps: tuple[StepRecord, ...]) -> list[dict[str, Any]]:
    return [{"name": s.name, "at": _time(s.at), "detail": mask_pans(s.detail)} for s in steps]


def payment_json(view: PaymentView) -> dict[str, Any]:
    return {
        "id": view.payment_id,
        "object": "payment",
        "status": str(view.status),
        "amount_minor": view.amount_minor,
        "currency": view.currency,
        "method_type": view.method_type,
        "capture_mode": view.capture_mode,
        "customer_id": view.customer_id,
        "bank_account_id": view.bank_account_id,
        "gateway": view.gateway,
        "reference": view.reference,
        "authorized_minor": view.authorized_minor,
        "captured_minor": view.captured_minor,
        "refunded_minor": view.refunded_minor,
        "attempts": view.attempts,
        "last_error": mask_optional(view.last_error),
        "decline_code": view.decline_code,
        "next_retry_at": _time(view.next_retry_at),
        "authorization_expires_at": _time(view.authorization_expires_at),
        "refunds": [
            {
                "id": r.request_id,
                "amount_minor": r.amount_minor,
                "reference": r.reference,
                "status": r.status,
                "at": _time(r.at),
            }
            for r in view.refunds
        ],
        "steps": _steps(view.steps),
    }


def summary_json(row: PaymentSummary) -> dict[str, Any]:
    return {
        "id": row.payment_id,
        "object": "payment_summary",
        "status": row.status,
        "amount_minor": row.amount_minor,
        "currency": row.currency,
        "customer_id": row.customer_id,
        "gateway": row.gateway,
        "last_error": mask_optional(row.last_error),
        "started_at": _time(row.started_at),
        "running": row.running,
    }


def refund_json(outcome: RefundOutcome) -> dict[str, Any]:
    return {
        "id": outcome.request_id,
        "object": "refund",
        "reference": outcome.reference,
        "amount_minor": outcome.amount_minor,
        "currency": outcome.currency,
        "status": outcome.status,
        "refunded_total_minor": outcome.refunded_total_minor,
    }


def onboarding_json(view: OnboardingView) -> dict[str, Any]:
    return {
        "id": view.onboarding_id,
        "object": "onboarding",
        "status": str(view.status),
        "customer_id": view.customer_id,
        "link_token": view.link_token,
        "expires_at": _time(view.expires_at),
        "bank_account_id": view.bank_account_id,
        "bank_account_status": view.bank_account_status,
        "owner_name_match": view.owner_name_match,
        "bank_account_ref": view.bank_account_ref,
        "customer_ref": view.customer_ref,
        "accounts": list(view.accounts),
        "last_error": mask_optional(view.last_error),
        "steps": _steps(view.steps),
    }


def reconciliation_json(started: ReconciliationStarted) -> dict[str, Any]:
    return {
        "id": started.reconciliation_id,
        "object": "reconciliation",
        "period": started.period,
        "already_running": started.already_running,
    }


def bank_account_json(account: BankAccount) -> dict[str, Any]:
    """No Plaid ids or secret-store references: what a merchant needs to show and debit."""
    return {
        "id": account.bank_account_id,
        "object": "bank_account",
        "customer_id": account.customer_id,
        "onboarding_id": account.onboarding_id,
        "status": str(account.status),
        "status_reason": account.status_reason,
        "status_changed_at": _time(account.status_changed_at),
        "owner_name_match": str(account.owner_name_match),
        "currency": account.currency,
        "last4": account.last4,
        "institution_name": account.institution_name,
        "account_subtype": account.account_subtype,
        "gateway": account.gateway,
        "gateway_customer_ref": account.gateway_customer_ref,
        "payment_method_ref": account.payment_method_ref,
        "created_at": _time(account.created_at),
    }
