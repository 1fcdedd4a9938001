"""What the routes share: the database, settings, the run launcher and the metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from partnersync.config import Settings
from partnersync.sync.partner_view_cache import PartnerViewCache
from partnersync.web.launcher import RunLauncher
from partnersync.web.metrics import RunMetrics
from partnersync.web.webhook_worker import WebhookWorker


@dataclass(frozen=True)
class Services:
    engine: Engine
    settings: Settings
    launcher: RunLauncher
    metrics: RunMetrics
    scheduler_heartbeat: Callable[[], datetime | None] | None
    """When this process's scheduler last ticked; None when no scheduler runs here."""
    webhooks: WebhookWorker | None = None
    """Runs `webhook_events` after deliveries; None while NORTHPASS_WEBHOOK_SECRET is unset."""
    partner_view: PartnerViewCache = field(default_factory=PartnerViewCache)
