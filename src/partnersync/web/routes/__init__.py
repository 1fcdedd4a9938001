"""API routes, one module per concept; each exposes `router(services, guard)`."""

from __future__ import annotations

from typing import Any

from partnersync.web.models import Problem


def problems(**codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers: `problems(_404="unknown task")`."""
    return {
        int(code.lstrip("_")): {"model": Problem, "description": text}
        for code, text in codes.items()
    }


UNAUTHORIZED = problems(_401="missing or wrong bearer token")
