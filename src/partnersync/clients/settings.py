"""Typed settings per API. The application's defaults live in `partnersync.config`, which
converts its settings to these (`northpass_settings`, `impartner_settings`); the defaults
here only make a client usable on its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr

from partnersync.clients.retry import RetryPolicy


@dataclass(frozen=True)
class ApiSettings:
    """What every API client needs: where, which key, how fast, how patient."""

    base_url: str
    api_key: SecretStr
    rate_per_second: float = 5.0
    rate_ceiling: float | None = None
    """How far the shared budget may rise while no 429 is seen (None: not above the rate)."""
    burst: float = 1.0
    page_size: int = 100
    concurrency: int = 4
    timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        """Bad configuration fails at start, naming the setting."""
        owner = type(self).__name__
        for name in (
            "rate_per_second",
            "page_size",
            "concurrency",
            "timeout_s",
            "connect_timeout_s",
        ):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"{owner}.{name} must be > 0, got {value}")
        if self.burst < 1:
            raise ValueError(f"{owner}.burst must be >= 1, got {self.burst}")


@dataclass(frozen=True)
class NorthpassSettings(ApiSettings):
    """Northpass: the vendor allows 10 requests/s per key."""


@dataclass(frozen=True)
class ImpartnerSettings(ApiSettings):
    """Impartner publishes no rate limit; requests carry the tenant id (None: no header)."""

    tenant_id: str | None = "1"
