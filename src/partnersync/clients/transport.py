"""The transport seam: one HTTP request out, one response back; plus the per-API request counter.

Nothing here retries, waits or parses; `session.ApiSession` wraps it with policy.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote

import httpx
from pydantic import SecretStr


@dataclass(frozen=True)
class ApiRequest:
    """One request: a path under the base URL (or an absolute URL taken from a `next` link)."""

    method: str
    url: str
    params: tuple[tuple[str, str], ...] = ()
    json: Any = None

    def describe(self) -> str:
        """`GET /v2/people?page=2&limit=100`: what error messages and logs name (never the key)."""
        url = httpx.URL(self.url).copy_merge_params(self.params)
        target = unquote(url.raw_path.decode("ascii"))
        if url.is_absolute_url:
            target = f"{url.scheme}://{url.netloc.decode('ascii')}{target}"
        return f"{self.method} {target}"


@dataclass
class RequestStats:
    """Counters for one API, for `sync_logs` and metrics.

    `requests` counts every attempt sent, `rate_limited` the 429 answers, `retries` the attempts
    after a first one, `failures` the requests that ended in an error for good.
    """

    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    failures: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class ApiKeyAuth(httpx.Auth):
    """Puts the key in one header, revealing it only there and only for the API's own origin."""

    def __init__(self, header: str, key: SecretStr, base_url: str, prefix: str = "") -> None:
        self._header = header
        self._key = key
        self._prefix = prefix
        self._origin = _origin(httpx.URL(base_url))

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) == self._origin:
            request.headers[self._header] = self._prefix + self._key.get_secret_value()
        yield request


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


class Transport:
    """Sends one request over a pooled httpx.AsyncClient with connect/read timeouts.

    `mock` swaps the network for an httpx transport (only for narrow seam tests).
    """

    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth,
        *,
        headers: Mapping[str, str],
        timeout_s: float,
        connect_timeout_s: float,
        max_connections: int,
        mock: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self._client = httpx.AsyncClient(
            base_url=base_url,
            auth=auth,
            headers=dict(headers),
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=max_connections),
            follow_redirects=False,
            transport=mock,
        )

    async def send(self, request: ApiRequest) -> httpx.Response:
        return await self._client.request(
            request.method, request.url, params=request.params or None, json=request.json
        )

    async def aclose(self) -> None:
        await self._client.aclose()
