"""The partner view: each partner's certifications, people and trend; CSV for spreadsheets;
certifications about to expire, for reminder campaigns."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic_core import to_json
from sqlalchemy import Connection

from partnersync.db.types import utcnow
from partnersync.sync import partner_history, partner_view
from partnersync.sync.partner_view import Order, PartnerSummary, SortField
from partnersync.tasks.leases import AlreadyRunning
from partnersync.tasks.partner_refresh import is_active_partner, refresh_partner
from partnersync.tasks.registry import PARTNER_REFRESH
from partnersync.web.csv_export import csv_response
from partnersync.web.launcher import ShuttingDown
from partnersync.web.models import (
    ExpiringItem,
    PartnerDetail,
    PartnerPage,
    RowId,
    RunStarted,
    SnapshotItem,
)
from partnersync.web.routes import COMMON, known_query_only, problems
from partnersync.web.services import Services

ITEM_COLUMNS = [f.name for f in fields(PartnerSummary)]
USER_COLUMNS = [
    "lms_user_id",
    "email",
    "first_name",
    "last_name",
    "membership",
    "course_id",
    "course_name",
    "npcu_value",
    "completed_at",
    "expires_at",
    "counted",
    "not_counted_reason",
    "course_retired",
]
CERTIFICATION_COLUMNS = USER_COLUMNS[5:]


def router(services: Services, guard: Any) -> APIRouter:
    api = APIRouter(
        tags=["partners"],
        dependencies=[Depends(guard), Depends(known_query_only)],
        responses=COMMON,
    )
    not_found = problems(_404="no live partner with that id")

    def chosen(
        q: str | None = Query(None, max_length=200, description="name contains, or Impartner id"),
        tier: str | None = Query(None, max_length=64, description="exact tier, any case"),
        active: bool | None = Query(None, description="only active (true) or inactive (false)"),
        sort: SortField = Query("name"),
        order: Order = Query("asc"),
    ) -> list[PartnerSummary]:
        with services.engine.connect() as connection:
            items = services.partner_view.summaries(connection, services.settings, utcnow())
        return partner_view.select_summaries(
            items, q=q, tier=tier, active=active, sort=sort, order=order
        )

    def one(connection: Connection, partner_id: int) -> PartnerSummary:
        found = partner_view.summaries(connection, services.settings, utcnow(), partner_id)
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no live partner with id {partner_id}")
        return found[0]

    @api.get(
        "/api/partners",
        summary="Partners with their certification numbers, paged",
        response_model=PartnerPage,
    )
    def list_partners(
        items: list[PartnerSummary] = Depends(chosen),
        limit: int = Query(50, ge=1, le=5000),
        offset: int = Query(0, ge=0),
    ) -> Response:
        # Serialised straight from the dataclasses (the fields are PartnerItem's, a test checks):
        # validating 2,000 items again would cost more than computing them.
        page = {"items": items[offset : offset + limit], "total": len(items)}
        return Response(to_json(page), media_type="application/json")

    @api.get(
        "/api/partners.csv",
        summary="The same partners as CSV (every match, no paging)",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}}},
    )
    def partners_csv(items: list[PartnerSummary] = Depends(chosen)) -> Response:
        rows = ([getattr(item, column) for column in ITEM_COLUMNS] for item in items)
        return csv_response(ITEM_COLUMNS, rows, "partners.csv")

    @api.get(
        "/api/partners/{partner_id}",
        summary="One partner, its people and their certifications",
        responses=not_found,
    )
    def get_partner(partner_id: RowId) -> PartnerDetail:
        now = utcnow()
        with services.engine.connect() as connection:
            summary = one(connection, partner_id)
            users = partner_view.partner_users(connection, partner_id, now)
        return PartnerDetail.model_validate(
            {**asdict(summary), "users": [asdict(u) for u in users]}
        )

    @api.get(
        "/api/partners/{partner_id}/users.csv",
        summary="The partner's people, one row per certification (or one row without)",
        response_class=Response,
        responses={**not_found, 200: {"content": {"text/csv": {}}}},
    )
    def partner_users_csv(partner_id: RowId) -> Response:
        now = utcnow()
        with services.engine.connect() as connection:
            one(connection, partner_id)
            users = partner_view.partner_users(connection, partner_id, now)
        rows = []
        for user in users:
            person = [
                user.lms_user_id,
                user.email,
                user.first_name,
                user.last_name,
                user.membership,
            ]
            courses: list[dict[str, Any]] = [asdict(c) for c in user.certifications] or [{}]
            for values in courses:
                rows.append(person + [values.get(column) for column in CERTIFICATION_COLUMNS])
        return csv_response(USER_COLUMNS, rows, f"partner-{partner_id}-users.csv")

    @api.post(
        "/api/partners/{partner_id}/refresh",
        summary="Refresh one partner now: members, transcripts, counts, push (202, its run id)",
        status_code=status.HTTP_202_ACCEPTED,
        responses={
            **not_found,
            **problems(
                _409="a partner refresh, sync_enrollments or sync_to_impartner is running",
                _503="the server is shutting down",
            ),
        },
    )
    def refresh(partner_id: RowId) -> RunStarted:
        with services.engine.connect() as connection:
            if not is_active_partner(connection, partner_id):
                raise HTTPException(404, f"no active partner with id {partner_id}")
        task = PARTNER_REFRESH.name
        try:
            run = services.launcher.launch(task, "incremental", refresh_partner(partner_id))
        except AlreadyRunning as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        except ShuttingDown as exc:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
        return RunStarted(run_id=run.log_id, task=task, mode="incremental")

    @api.get(
        "/api/partners/{partner_id}/history",
        summary="The partner's daily snapshots, oldest first",
        responses=not_found,
    )
    def partner_trend(
        partner_id: RowId, days: int = Query(365, ge=1, le=36_500)
    ) -> list[SnapshotItem]:
        with services.engine.connect() as connection:
            one(connection, partner_id)
            snapshots = partner_history.history(connection, partner_id, days, utcnow().date())
        return [SnapshotItem.model_validate(asdict(s)) for s in snapshots]

    @api.get(
        "/api/certifications/expiring",
        summary="Counted certifications expiring within `days`, soonest first",
    )
    def expiring(days: int = Query(90, ge=1, le=3650)) -> list[ExpiringItem]:
        with services.engine.connect() as connection:
            found = partner_view.expiring(connection, utcnow(), days)
        return [ExpiringItem.model_validate(asdict(e)) for e in found]

    return api
