"""group_analysis suggestions: list them, accept (pending memberships) or dismiss them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from partnersync.db.types import utcnow
from partnersync.tasks import analysis
from partnersync.types import SuggestionStatus
from partnersync.web.models import MAX_ID, Decision, Suggestion, SuggestionChoice, SuggestionPage
from partnersync.web.routes import COMMON, known_query_only, problems
from partnersync.web.services import Services


def router(services: Services, guard: Any) -> APIRouter:
    api = APIRouter(
        prefix="/api/suggestions",
        tags=["suggestions"],
        dependencies=[Depends(guard), Depends(known_query_only)],
        responses=COMMON,
    )
    unknown = problems(_404="an id is not a suggestion; nothing was changed")

    @api.get("", summary="Suggestions of one analysis run (default: the latest)")
    def list_suggestions(
        run_id: int | None = Query(None, ge=1, le=MAX_ID),
        group_id: str | None = Query(None, max_length=64),
        status: SuggestionStatus | None = Query(None),
        limit: int = Query(200, ge=1, le=5000),
    ) -> SuggestionPage:
        with services.engine.connect() as connection:
            run = run_id if run_id is not None else analysis.latest_run_id(connection)
            found = analysis.list_suggestions(
                connection, run_id=run, group_id=group_id, status=status
            )
        return SuggestionPage(
            run_id=run,
            total=len(found),
            suggestions=[Suggestion.model_validate(s, from_attributes=True) for s in found[:limit]],
        )

    def decide(choice: SuggestionChoice, verb: str) -> Decision:
        with services.engine.begin() as connection:  # an unknown id rolls everything back
            if verb == "accept":
                decision = analysis.accept(connection, choice.ids, utcnow())
            else:
                decision = analysis.dismiss(connection, choice.ids)
            if decision.unknown:
                raise HTTPException(
                    status.HTTP_404_NOT_FOUND,
                    f"unknown suggestion ids: {', '.join(map(str, decision.unknown))}",
                )
        return Decision(done=decision.done, already=decision.already, not_open=decision.not_open)

    @api.post(
        "/accept",
        summary="Accept: each adds a pending membership that group_members_sync writes",
        responses=unknown,
    )
    def accept(choice: SuggestionChoice) -> Decision:
        return decide(choice, "accept")

    @api.post(
        "/dismiss",
        summary="Dismiss: later analyses do not suggest the user for the group again",
        responses=unknown,
    )
    def dismiss(choice: SuggestionChoice) -> Decision:
        return decide(choice, "dismiss")

    return api
