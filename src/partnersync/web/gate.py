"""What is decided about a request before any of it is read: who may send it, and how much.

A pure ASGI middleware in front of the app:

- protected paths (every `/api/*` route but `PUBLIC`, and `/metrics`) need the bearer
  token, compared in constant time, *before* the body is read: without it the answer is 401
  whatever the body holds, so an anonymous client cannot make the server buffer anything;
- a client address that keeps presenting wrong tokens is slowed down: after `MAX_FAILURES`
  within a minute it gets 429 with `Retry-After` until the oldest one ages out, while the right
  token always gets in (no one can lock the operator out); the address is the connection's
  peer, never `X-Forwarded-For`; wrong tokens are counted in `partnersync_auth_failures_total`;
- a body larger than `PARTNERSYNC_HTTP_MAX_BODY_BYTES` is refused with 413: at once when
  `Content-Length` says so, or as soon as a streamed body passes the limit; the answer never
  echoes the body;
- every answer carries the browser hardening headers (`SECURITY_HEADERS`).
"""

from __future__ import annotations

import hmac
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_FAILURES = 10
WINDOW_SECONDS = 60.0
MAX_TRACKED_CLIENTS = 10_000
"""Beyond this many addresses with recent failures the oldest are forgotten: memory is bounded."""

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
        b"frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


PUBLIC = ("/api/health", "/api/webhooks/northpass")
"""No bearer token: health is for probes; the webhook checks its own signature instead."""


def is_protected(path: str) -> bool:
    return (path.startswith("/api/") and path.rstrip("/") not in PUBLIC) or path == "/metrics"


class FailedSignIns:
    """Wrong-token attempts per client address within the last `WINDOW_SECONDS`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._seen: defaultdict[str, deque[float]] = defaultdict(deque)

    def _recent(self, client: str) -> deque[float]:
        times = self._seen[client]
        while times and times[0] <= self.clock() - WINDOW_SECONDS:
            times.popleft()
        if not times:
            del self._seen[client]
        return times

    def retry_after(self, client: str) -> float | None:
        """Seconds until `client` may try again, or None when it is not held back."""
        times = self._recent(client) if client in self._seen else ()
        if len(times) < MAX_FAILURES:
            return None
        return max(times[-MAX_FAILURES] + WINDOW_SECONDS - self.clock(), 1.0)

    def failed(self, client: str) -> None:
        self._seen[client].append(self.clock())
        if len(self._seen) > MAX_TRACKED_CLIENTS:
            oldest = min(self._seen, key=lambda known: self._seen[known][-1])
            del self._seen[oldest]

    def succeeded(self, client: str) -> None:
        self._seen.pop(client, None)


class Gate:
    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        max_body_bytes: int,
        failures_counter: Counter,
        sign_ins: FailedSignIns | None = None,
    ) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.max_body = max_body_bytes
        self.failures_counter = failures_counter
        self.sign_ins = sign_ins or FailedSignIns()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _hardened(send)
        headers = dict(scope["headers"])
        if is_protected(scope["path"]):
            refusal = self._authenticate(scope, headers)
            if refusal is not None:
                await _answer(send, *refusal)
                return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _answer(send, 413, self._too_large())
            return
        await self._call_limited(scope, receive, send)

    def _authenticate(
        self, scope: Scope, headers: dict[bytes, bytes]
    ) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]] | None:
        client = (scope.get("client") or ("unknown", 0))[0]  # the peer, never a forwarded header
        given = headers.get(b"authorization", b"")
        if hmac.compare_digest(given, self.expected):
            self.sign_ins.succeeded(client)  # the right token always gets in
            return None
        wait = self.sign_ins.retry_after(client)
        if wait is not None:
            return (
                429,
                {"detail": "too many wrong tokens from this address; try again later"},
                [(b"retry-after", str(int(wait + 0.999)).encode())],
            )
        if given:  # a wrong token is a guess; no token at all is not
            self.sign_ins.failed(client)
            self.failures_counter.inc()
        return (
            401,
            {"detail": "missing or wrong bearer token"},
            [(b"www-authenticate", b"Bearer")],
        )

    async def _call_limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count a streamed body; past the limit answer 413 and tell the app the client left."""
        received = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    if not started and not refused:
                        refused = True
                        await _answer(send, 413, self._too_large())
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the app's own answer to a body it never got is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    def _too_large(self) -> dict[str, Any]:
        return {"detail": f"request body larger than {self.max_body} bytes"}


def _hardened(send: Send) -> Send:
    async def with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [header for header in SECURITY_HEADERS if header[0] not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return with_headers


async def _answer(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
