"""Group ↔ partner links: list them, set a manual link, clear a link."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from sqlalchemy import Connection

from partnersync.sync import group_links
from partnersync.web.models import GroupLink, LinkRequest
from partnersync.web.routes import COMMON, known_query_only, problems
from partnersync.web.services import Services


def _live_group_or_404(connection: Connection, group_id: str) -> None:
    if not group_links.is_live_group(connection, group_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no live LMS group with id {group_id!r}")


def _link(connection: Connection, group_id: str) -> GroupLink:
    for link in group_links.list_links(connection):
        if link.group_id == group_id:
            return GroupLink.model_validate(link, from_attributes=True)
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"no live LMS group with id {group_id!r}")


def router(services: Services, guard: Any) -> APIRouter:
    api = APIRouter(
        tags=["links"], dependencies=[Depends(guard), Depends(known_query_only)], responses=COMMON
    )
    group_not_found = problems(_404="no live group with that id")

    @api.get("/api/links", summary="Live groups with their partner and how they were linked")
    def list_links(
        unlinked: bool = Query(False, description="only groups without a partner"),
        q: str | None = Query(None, max_length=200, description="group or partner name contains"),
        limit: int = Query(200, ge=1, le=5000),
    ) -> list[GroupLink]:
        with services.engine.connect() as connection:
            links = group_links.list_links(connection, unlinked=unlinked)
        if q:
            needle = q.casefold()
            links = [
                link
                for link in links
                if needle in link.group_name.casefold()
                or needle in (link.partner_name or "").casefold()
                or needle == link.group_id.casefold()
            ]
        return [GroupLink.model_validate(link, from_attributes=True) for link in links[:limit]]

    @api.put(
        "/api/links/{group_id}",
        summary="Link a group to a partner for good (the matcher never overwrites it)",
        responses=group_not_found,
    )
    def set_link(group_id: str, request: LinkRequest) -> GroupLink:
        with services.engine.begin() as connection:
            _live_group_or_404(connection, group_id)
            try:
                partner = group_links.resolve_partner(
                    connection, request.partner_id, request.impartner_id
                )
                group_links.set_manual_link(connection, group_id, partner)
            except group_links.LinkError as exc:
                raise HTTPException(422, str(exc)) from None
            return _link(connection, group_id)

    @api.delete(
        "/api/links/{group_id}",
        summary="Remove a group's link; automatic matching applies again",
        responses=group_not_found,
    )
    def clear_link(group_id: str) -> GroupLink:
        with services.engine.begin() as connection:
            _live_group_or_404(connection, group_id)
            group_links.clear_manual_link(connection, group_id)
            return _link(connection, group_id)

    return api
