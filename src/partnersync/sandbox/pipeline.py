"""The path every API request takes before its handler: counting, latency, auth, rate limit and
injected faults — the same for both simulated services, which differ only in their `ApiStyle`."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from partnersync.sandbox.knobs import Fault
from partnersync.sandbox.state import SandboxState

Handler = Callable[[Request, SandboxState], Awaitable[Response]]

ABANDONED = "ASGI callable returned without completing response."


class Refusal(Exception):
    """A handler refuses the request; the pipeline answers in the service's own error style.

    `status` None leaves it to the service (Impartner's is a knob); `code` is Impartner's error
    code, ignored by Northpass, whose errors carry the status' title.
    """

    def __init__(self, detail: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code


async def json_body(request: Request) -> Any:
    """The request body parsed as JSON, or a `Refusal`."""
    try:
        return json.loads(await request.body())
    except ValueError as exc:
        raise Refusal("Request body is not valid JSON") from exc


@dataclass(frozen=True)
class ApiStyle:
    """How one service authenticates callers and shapes its errors."""

    name: str
    authenticate: Callable[[Request, SandboxState], str | Response]  # the key, or a refusal
    error: Callable[[SandboxState, int, str, str], Response]  # status, title, detail
    refuse: Callable[[SandboxState, Refusal], Response]


class JsonResponse(JSONResponse):
    """JSON as the vendors send it: UTF-8, with text that UTF-8 cannot carry (a lone UTF-16
    surrogate planted as a bad record) escaped as `\\uXXXX`, which is still valid JSON."""

    def render(self, content: object) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, separators=(",", ":")).encode("ascii")


class HangResponse(Response):
    """Holds the request open until the client gives up (or `seconds` pass, then answers 504)."""

    status_label = "timeout"

    def __init__(self, seconds: float) -> None:
        super().__init__(b"", status_code=504)
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def client_gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        try:
            await asyncio.wait_for(client_gone(), self.seconds)
        except TimeoutError:
            await super().__call__(scope, receive, send)


class DropResponse(Response):
    """Promises a body, sends part of it and abandons the connection."""

    status_label = "dropped"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"data": [', "more_body": True})


class _HideAbandonedResponses(logging.Filter):
    """Uvicorn logs an abandoned response as an error; here it is the point of a drop fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != ABANDONED


logging.getLogger("uvicorn.error").addFilter(_HideAbandonedResponses())


def too_many_requests(api: ApiStyle, state: SandboxState) -> Response:
    response = api.error(state, 429, "Too Many Requests", "Rate limit exceeded, slow down.")
    if state.knobs.retry_after_seconds is not None:
        response.headers["Retry-After"] = str(math.ceil(state.knobs.retry_after_seconds))
    return response


def malformed(response: Response) -> Response:
    """The same answer with its JSON cut in half (content type and status unchanged)."""
    body = bytes(response.body)
    return Response(
        body[: max(1, len(body) // 2)],
        status_code=response.status_code,
        media_type="application/json",
    )


async def guarded(
    api: ApiStyle, handler: Handler, request: Request, state: SandboxState
) -> Response:
    knobs = state.knobs
    arrived = time.time()  # before the simulated latency, whose wake-ups a busy loop bunches
    if knobs.latency_ms:
        await asyncio.sleep(knobs.latency_ms / 1000)
    key = api.authenticate(request, state)
    if isinstance(key, Response):
        return key
    state.counters.arrived(api.name, arrived)
    if not state.limiter.allow(api.name, key, knobs.rate_limit_per_second):
        return too_many_requests(api, state)
    fault = state.dice.roll(knobs, request.url.path)
    if fault is Fault.TOO_MANY_REQUESTS:
        return too_many_requests(api, state)
    if fault is Fault.SERVER_ERROR:
        status = state.dice.server_error_status()
        return HTMLResponse(f"<html><body><h1>{status} Server Error</h1></body></html>", status)
    if fault is Fault.TIMEOUT:
        return HangResponse(knobs.timeout_hang_seconds)
    if fault is Fault.DROP:
        return DropResponse()
    try:
        response = await handler(request, state)
    except Refusal as refusal:
        response = api.refuse(state, refusal)
    return malformed(response) if fault is Fault.MALFORMED else response


def api_route(api: ApiStyle, method: str, path: str, handler: Handler) -> Route:
    """A Starlette route that runs `handler` behind the common pipeline and counts the answer."""
    label = f"{method} {path}"

    async def endpoint(request: Request) -> Response:
        state: SandboxState = request.app.state.sandbox
        response = await guarded(api, handler, request, state)
        status = getattr(response, "status_label", str(response.status_code))
        state.counters.record(label, status)
        return response

    return Route(path, endpoint, methods=[method])
