"""API routes, one module per concept; each exposes `router(services, guard)`."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from partnersync.web.models import Problem, ValidationProblem


def problems(**codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers: `problems(_404="unknown task")`."""
    return {
        int(code.lstrip("_")): {"model": Problem, "description": text}
        for code, text in codes.items()
    }


UNAUTHORIZED = problems(_401="missing or wrong bearer token")
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationProblem, "description": "invalid or unknown parameters or body"}
}
COMMON = {**problems(_400="a body that is not JSON"), **UNAUTHORIZED, **INVALID}
"""Answers every authenticated operation may give."""


def known_query_only(request: Request) -> None:
    """Refuse query parameters the operation does not define, and any given twice: `?stauts=`
    is a typo, and `?status=a&status=b` asks two things at once; silently ignoring or picking
    one would answer a different question than the one asked. (Every parameter is a scalar.)"""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route.dependant)
    given = set(request.query_params)
    errors = [
        {"type": "extra_forbidden", "loc": ["query", name], "msg": "unknown query parameter"}
        for name in sorted(given - known)
    ] + [
        {"type": "repeated", "loc": ["query", name], "msg": "query parameter given more than once"}
        for name in sorted(given & known)
        if len(request.query_params.getlist(name)) > 1
    ]
    if errors:
        raise RequestValidationError(errors)


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
