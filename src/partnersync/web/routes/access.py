"""The access audit trail: every membership write to Northpass, newest first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from partnersync.tasks import access_audit
from partnersync.types import AccessAction
from partnersync.web.models import MAX_ID, AccessAuditPage, AccessChange
from partnersync.web.routes import COMMON, known_query_only
from partnersync.web.services import Services


def router(services: Services, guard: Any) -> APIRouter:
    api = APIRouter(
        tags=["access"], dependencies=[Depends(guard), Depends(known_query_only)], responses=COMMON
    )

    @api.get("/api/access/audit", summary="Membership writes to Northpass: who, what, why, when")
    def audit(
        run_id: int | None = Query(None, ge=1, le=MAX_ID, description="written by this run"),
        group_id: str | None = Query(None, max_length=64),
        user_id: str | None = Query(None, max_length=64),
        partner_id: int | None = Query(None, ge=1, le=MAX_ID),
        action: AccessAction | None = Query(None),
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=MAX_ID),
    ) -> AccessAuditPage:
        with services.engine.connect() as connection:
            rows, total = access_audit.entries(
                connection,
                run_id=run_id,
                group_id=group_id,
                user_id=user_id,
                partner_id=partner_id,
                action=action,
                limit=limit,
                offset=offset,
            )
        return AccessAuditPage(
            items=[AccessChange(**row) for row in rows],
            total=total,
        )

    return api
