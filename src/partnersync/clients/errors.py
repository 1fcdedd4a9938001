"""Errors the clients raise. Messages name the request (method, path, query), never a key."""

from __future__ import annotations


class ClientError(Exception):
    """Base class for everything the API clients raise on purpose."""

    def __init__(self, request: str, message: str) -> None:
        super().__init__(f"{request}: {message}")
        self.request = request


class ApiError(ClientError):
    """A response that retrying cannot fix: a 4xx other than 429, or an error envelope."""

    def __init__(self, request: str, status: int, detail: str) -> None:
        super().__init__(request, f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class RetriesExhausted(ClientError):
    """Every attempt at a request met a retryable failure (429, 5xx, timeout, bad body...)."""

    def __init__(self, request: str, attempts: int, cause: str) -> None:
        super().__init__(request, f"gave up after {attempts} attempts; last failure: {cause}")
        self.attempts = attempts
        self.cause = cause
