"""One ASGI app serving both simulated APIs and the `/_sandbox` control endpoints."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from partnersync.sandbox import impartner, northpass
from partnersync.sandbox.pipeline import Refusal, json_body
from partnersync.sandbox.state import SandboxState


async def get_stats(request: Request) -> Response:
    return JSONResponse(request.app.state.sandbox.counters.snapshot())


async def get_arrivals(request: Request) -> Response:
    """When each authenticated request of one API arrived (`?api=northpass`, epoch seconds),
    and the most that arrived within any one second."""
    api = request.query_params.get("api", "northpass")
    counters = request.app.state.sandbox.counters
    return JSONResponse(
        {"times": counters.arrival_times(api), "busiest_second": counters.busiest_second(api)}
    )


async def reset_counters(request: Request) -> Response:
    request.app.state.sandbox.counters.reset()
    return Response(status_code=204)


async def get_knobs(request: Request) -> Response:
    return JSONResponse(request.app.state.sandbox.knobs.as_json())


async def set_knobs(request: Request) -> Response:
    """Changes the knobs named in the JSON body; answers with all knobs, or 400."""
    state: SandboxState = request.app.state.sandbox
    try:
        changes = await json_body(request)
        if not isinstance(changes, dict):
            raise TypeError("expected a JSON object of knob names and values")
        knobs = state.set_knobs(**changes)
    except (Refusal, ValueError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, 400)
    return JSONResponse(knobs.as_json())


async def get_webhooks(request: Request) -> Response:
    """Whether the school's webhooks are disabled, and how many deliveries wait or were made."""
    return JSONResponse(request.app.state.sandbox.webhooks.status())


async def enable_webhooks(request: Request) -> Response:
    request.app.state.sandbox.webhooks.enable()
    return Response(status_code=204)


def build_app(state: SandboxState) -> Starlette:
    control = [
        Route("/_sandbox/stats", get_stats, methods=["GET"]),
        Route("/_sandbox/arrivals", get_arrivals, methods=["GET"]),
        Route("/_sandbox/reset-counters", reset_counters, methods=["POST"]),
        Route("/_sandbox/knobs", get_knobs, methods=["GET"]),
        Route("/_sandbox/knobs", set_knobs, methods=["POST"]),
        Route("/_sandbox/webhooks", get_webhooks, methods=["GET"]),
        Route("/_sandbox/webhooks/enable", enable_webhooks, methods=["POST"]),
    ]
    app = Starlette(routes=[*control, *northpass.routes(), *impartner.routes()])
    app.state.sandbox = state
    return app
