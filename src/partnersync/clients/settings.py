"""Typed settings per API; the application config maps environment variables onto these."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr

from partnersync.clients.retry import RetryPolicy


def _check(owner: str, burst: float, **positive: float) -> None:
    """Bad configuration fails at start, naming the setting."""
    for name, value in positive.items():
        if value <= 0:
            raise ValueError(f"{owner}.{name} must be > 0, got {value}")
    if burst < 1:
        raise ValueError(f"{owner}.burst must be >= 1, got {burst}")


@dataclass(frozen=True)
class NorthpassSettings:
    """Northpass budget: the vendor allows 10 requests/s per key; 8 leaves headroom."""

    base_url: str
    api_key: SecretStr
    rate_per_second: float = 8.0
    burst: float = 1.0
    page_size: int = 100
    concurrency: int = 8
    timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        _check(
            "NorthpassSettings",
            self.burst,
            rate_per_second=self.rate_per_second,
            page_size=self.page_size,
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            connect_timeout_s=self.connect_timeout_s,
        )


@dataclass(frozen=True)
class ImpartnerSettings:
    """Impartner publishes no rate limit; the budget is a setting."""

    base_url: str
    api_key: SecretStr
    tenant_id: str = "1"
    rate_per_second: float = 5.0
    burst: float = 1.0
    page_size: int = 100
    concurrency: int = 4
    timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        _check(
            "ImpartnerSettings",
            self.burst,
            rate_per_second=self.rate_per_second,
            page_size=self.page_size,
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            connect_timeout_s=self.connect_timeout_s,
        )
