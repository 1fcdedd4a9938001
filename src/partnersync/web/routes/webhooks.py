"""Webhooks over HTTP. `POST /api/webhooks/northpass`, the receiver: no bearer token (Northpass
cannot send one); the `X-Northpass-Hmac-SHA256` signature over the raw body is the
authentication. The event is stored in the inbox and the answer given at once; re-reads happen
in the webhook worker. `GET /api/webhooks/status` (bearer token): what the dashboard shows."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import func, select

from partnersync.db.schema import webhook_events
from partnersync.db.types import utcnow
from partnersync.sync.inbox import (
    SIGNATURE_HEADER,
    BadEvent,
    Event,
    ingest,
    parse_event,
    signature_ok,
)
from partnersync.tasks.webhook_watchdog import delivery_facts, problem
from partnersync.web.models import WebhookStatus
from partnersync.web.routes import COMMON, known_query_only, problems
from partnersync.web.services import Services


class Received(BaseModel):
    stored: bool
    """False: a duplicate of an event already in the inbox (by id or natural key)."""


def router(services: Services) -> APIRouter:
    api = APIRouter(tags=["webhooks"], dependencies=[Depends(known_query_only)])

    def store(event: Event, raw: str) -> bool:
        with services.engine.begin() as connection:
            return ingest(connection, event, raw, "delivery", utcnow())

    @api.post(
        "/api/webhooks/northpass",
        summary="Northpass webhook deliveries, checked by signature (no bearer token)",
        responses=problems(
            _400="signed, but not a JSON:API event",
            _401=f"missing or wrong {SIGNATURE_HEADER} signature",
            _404="webhooks are off: NORTHPASS_WEBHOOK_SECRET is not set",
        ),
    )
    async def northpass(request: Request) -> Received:
        secret = services.settings.northpass_webhook_secret
        if secret is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                "webhooks are off: NORTHPASS_WEBHOOK_SECRET is not set",
            )
        body = await request.body()
        if not signature_ok(secret.get_secret_value(), body, request.headers.get(SIGNATURE_HEADER)):
            services.metrics.webhooks_refused.inc()
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, f"missing or wrong {SIGNATURE_HEADER} signature"
            )
        try:
            raw = body.decode()
            event = parse_event(json.loads(raw))
        except (UnicodeDecodeError, json.JSONDecodeError, BadEvent) as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"not an event: {exc}") from exc
        stored = await run_in_threadpool(store, event, raw)
        services.metrics.webhooks_received.labels("stored" if stored else "duplicate").inc()
        if stored and services.webhooks is not None:
            services.webhooks.wake()
        return Received(stored=stored)

    return api


def status_router(services: Services, guard: Any) -> APIRouter:
    api = APIRouter(
        tags=["webhooks"],
        dependencies=[Depends(guard), Depends(known_query_only)],
        responses=COMMON,
    )

    @api.get(
        "/api/webhooks/status", summary="Webhook deliveries: the last, the pending, the watchdog"
    )
    def webhook_status() -> WebhookStatus:
        silence = timedelta(minutes=services.settings.webhook_silence_minutes)
        with services.engine.connect() as connection:
            facts = delivery_facts(connection)
            pending = connection.scalar(
                select(func.count())
                .select_from(webhook_events)
                .where(webhook_events.c.processed_at.is_(None))
            )
        return WebhookStatus(
            configured=services.settings.northpass_webhook_secret is not None,
            last_delivery_at=facts.last_delivery,
            pending=int(pending or 0),
            problem=problem(facts, utcnow(), silence),
        )

    return api
