"""Policy around the transport: rate limit, bounded concurrency, retries, counting, JSON checks."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import httpx
import structlog

from partnersync.clients.errors import ApiError, RetriesExhausted
from partnersync.clients.ratelimit import Limiter, shared_bucket
from partnersync.clients.retry import (
    MalformedResponse,
    RetryableResponse,
    RetryPolicy,
    describe_failure,
    is_retryable,
    is_retryable_status,
    parse_retry_after,
)
from partnersync.clients.settings import ApiSettings
from partnersync.clients.transport import ApiRequest, RequestStats, Transport

log = structlog.get_logger(__name__)

# Returned instead of a body when the status is one the caller declared as "absent".
ABSENT: Any = object()

# Checks a decoded body; raises ApiError (final) or MalformedResponse (retried); returns the body.
BodyCheck = Callable[[ApiRequest, Any], Any]


class ApiSession:
    """The only way the API clients send requests.

    Every attempt takes a token from the (shared) bucket; at most `concurrency` requests are in
    flight; 429/5xx/timeouts/connection errors/undecodable bodies are retried by `policy`.
    """

    def __init__(
        self,
        transport: Transport,
        limiter: Limiter,
        policy: RetryPolicy,
        *,
        concurrency: int,
        error_detail: Callable[[Any], str],
        stats: RequestStats | None = None,
    ) -> None:
        self.transport = transport
        self.limiter = limiter
        self.policy = policy
        self.stats = stats if stats is not None else RequestStats()
        self._slots = asyncio.Semaphore(concurrency)
        self._error_detail = error_detail

    async def json(
        self,
        request: ApiRequest,
        *,
        check: BodyCheck | None = None,
        absent: Collection[int] = (),
    ) -> Any:
        """Send `request` until it succeeds and return its decoded JSON body.

        Statuses in `absent` (e.g. 404 for a person without transcripts) return `ABSENT` instead
        of raising. A 204 or empty success body decodes to None.
        """
        async with self._slots:
            attempts = 0
            try:
                async for attempt in self.policy.attempts():
                    with attempt:
                        attempts += 1
                        if attempts > 1:
                            self.stats.retries += 1
                            log.info("retrying", request=request.describe(), attempt=attempts)
                        response = await self._send_once(request)
                        if response.status_code in absent:
                            return ABSENT
                        body = self._decode(request, response)
                        return check(request, body) if check else body
            except ApiError:
                self.stats.failures += 1
                raise
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                self.stats.failures += 1
                raise RetriesExhausted(request.describe(), attempts, describe_failure(exc)) from exc
        raise AssertionError("stamina yielded no attempt")

    async def _send_once(self, request: ApiRequest) -> httpx.Response:
        await self.limiter.acquire()
        self.stats.requests += 1
        response = await self.transport.send(request)
        status = response.status_code
        if is_retryable_status(status):
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), dt.datetime.now(dt.UTC)
            )
            if status == 429:
                self.stats.rate_limited += 1
                cap = self.policy.retry_after_max_s
                self.limiter.throttled(None if retry_after is None else min(retry_after, cap))
            raise RetryableResponse(status, retry_after)
        return response

    def _decode(self, request: ApiRequest, response: httpx.Response) -> Any:
        try:
            body = json.loads(response.content) if response.content.strip() else None
        except ValueError:
            if response.is_success:
                raise MalformedResponse(f"HTTP {response.status_code} body is not JSON") from None
            body = response.text[:200]
        if not response.is_success:
            raise ApiError(request.describe(), response.status_code, self._error_detail(body))
        return body


class ApiClient:
    """Plumbing both vendor clients share: transport, shared bucket, session, counters.

    Open it inside the event loop that uses it (`async with`).
    """

    def __init__(
        self,
        settings: ApiSettings,
        auth: httpx.Auth,
        headers: Mapping[str, str],
        error_detail: Callable[[Any], str],
        *,
        limiter: Limiter | None = None,
        stats: RequestStats | None = None,
        mock: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        transport = Transport(
            settings.base_url,
            auth,
            headers={"Accept": "application/json", **headers},
            timeout_s=settings.timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            max_connections=settings.concurrency,
            mock=mock,
        )
        self._session = ApiSession(
            transport,
            limiter or shared_bucket(settings.api_key, settings.rate_per_second, settings.burst),
            settings.retry,
            concurrency=settings.concurrency,
            error_detail=error_detail,
            stats=stats,
        )

    @property
    def stats(self) -> RequestStats:
        return self._session.stats

    async def get(self, path: str, params: Sequence[tuple[str, str]] = ()) -> Any:
        """One GET's decoded body, under the same budget and retries as every request; a
        refusal raises ApiError with its status. For probes of the vendor's behaviour."""
        return await self._session.json(ApiRequest("GET", path, tuple(params)))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        try:
            await self._session.transport.aclose()
        finally:
            await self._session.limiter.release()
