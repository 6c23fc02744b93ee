"""Webhook ingress: verify, record once, then signal the payment's workflow.

Order matters: the signature is checked before anything else (401, nothing
recorded; 503 when Plaid cannot serve its verification key right now, so Plaid
delivers again); the event is recorded by (provider, event id) so a redelivery
answers 200 and changes nothing; only then is the payment's workflow signalled.
An event that maps to no running payment is kept as undeliverable (202).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from typing import Annotated, Any
from urllib.parse import parse_qs

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from temporalio.service import RPCError, RPCStatusCode

from paysaga.api.errors import error_response
from paysaga.api.state import AppState, app_state
from paysaga.api.webhook_events import Normalised, braintree_event, plaid_event, stripe_event
from paysaga.client import workflow_refs as wf
from paysaga.client.errors import InvalidSignature, ServiceUnavailable
from paysaga.domain.errors import PaysagaError
from paysaga.gateways.plaid_keys import KeyUnavailable
from paysaga.gateways.webhooks import verify_stripe_signature

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
State = Annotated[AppState, Depends(app_state)]


def _rejected(provider: str, exc: Exception) -> InvalidSignature:
    log.warning("webhook.rejected", provider=provider, reason=type(exc).__name__)
    return InvalidSignature(f"{provider} webhook signature verification failed")


async def _ingest(state: AppState, provider: str, body: bytes, event: Normalised) -> JSONResponse:
    digest = hashlib.sha256(body).hexdigest()
    recorded = await state.webhook_events.record(
        provider, event.event_id, event.event_type, digest, event.payment_id
    )
    if not recorded.first_time and recorded.delivered:
        log.info("webhook.duplicate", provider=provider, event_id=event.event_id)
        return JSONResponse({"received": True, "duplicate": True})
    if event.event is None or event.payment_id is None:
        await state.webhook_events.mark_undeliverable(
            provider, event.event_id, "no payment workflow for this event"
        )
        return JSONResponse(
            {"received": True, "delivered": False, "duplicate": not recorded.first_time},
            status_code=202,
        )
    handle = state.temporal.get_workflow_handle(event.payment_id)
    try:
        await handle.signal(wf.GATEWAY_EVENT_SIGNAL, event.event)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise ServiceUnavailable("Temporal did not accept the event; retry later") from exc
        await state.webhook_events.mark_undeliverable(
            provider, event.event_id, "payment workflow not running"
        )
        return JSONResponse({"received": True, "delivered": False}, status_code=202)
    await state.webhook_events.mark_delivered(provider, event.event_id)
    log.info("webhook.delivered", provider=provider, event_id=event.event_id, kind=event.event.kind)
    return JSONResponse({"received": True, "delivered": True})


@router.post("/stripe")
async def stripe_webhook(request: Request, state: State) -> JSONResponse:
    body = await request.body()
    secret = state.settings.stripe_webhook_secret.get_secret_value()
    try:
        payload = verify_stripe_signature(body, request.headers.get("stripe-signature"), secret)
        if not isinstance(payload, dict):
            raise ValueError("event is not an object")
    except (PaysagaError, ValueError) as exc:
        raise _rejected("stripe", exc) from None
    return await _ingest(state, "stripe", body, stripe_event(payload))


@router.post("/braintree")
async def braintree_webhook(request: Request, state: State) -> JSONResponse:
    body = await request.body()
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=False, max_num_fields=10)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _rejected("braintree", exc) from None
    signature = form["bt_signature"][0] if form.get("bt_signature") else None
    payload = form["bt_payload"][0] if form.get("bt_payload") else None
    try:
        parsed = state.braintree_webhooks.parse(signature, payload)
    except Exception as exc:  # the SDK raises assorted errors for garbage; all are rejections
        raise _rejected("braintree", exc) from None
    return await _ingest(state, "braintree", body, braintree_event(parsed))


@router.post("/plaid")
async def plaid_webhook(request: Request, state: State) -> JSONResponse:
    body = await request.body()
    token = request.headers.get("plaid-verification")
    try:
        payload: dict[str, Any] = await asyncio.to_thread(state.plaid_webhooks.verify, body, token)
        if not isinstance(payload, dict):
            raise ValueError("body is not an object")
    except KeyUnavailable as exc:
        # Not a verdict on the webhook: answer non-200 so Plaid delivers it again.
        log.warning("webhook.deferred", provider="plaid", reason=exc.message)
        return error_response(
            503,
            exc.code,
            "Plaid's verification key could not be fetched; deliver again later",
            headers={"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))},
        )
    except (PaysagaError, ValueError) as exc:
        raise _rejected("plaid", exc) from None
    return await _ingest(state, "plaid", body, plaid_event(body, payload))
