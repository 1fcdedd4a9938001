"""`POST /api/webhooks/northpass`: the receiver. No bearer token (Northpass cannot send one);
the `X-Northpass-Hmac-SHA256` signature over the raw body is the authentication. The event is
stored in the inbox and the answer given at once; re-reads happen in the webhook worker."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from partnersync.db.types import utcnow
from partnersync.sync.inbox import (
    SIGNATURE_HEADER,
    BadEvent,
    Event,
    ingest,
    parse_event,
    signature_ok,
)
from partnersync.web.routes import known_query_only, problems
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
