"""Prometheus metrics, one registry per app.

Run counters and the duration histogram are fed by the outcomes of the runs this process
executes (API runs through the launcher, scheduled runs through the scheduler's hook).
What other replicas do is in the database, so the last-success time and the running state
per task are read from it at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from partnersync.budget import ledger
from partnersync.db.schema import scheduled_tasks, sync_logs
from partnersync.tasks.outcome import RunOutcome
from partnersync.tasks.registry import TASKS
from partnersync.tasks.webhook_watchdog import delivery_facts

RECORD_KINDS = ("processed", "created", "updated", "deleted", "failed")
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
APIS = ("northpass", "impartner")

log = structlog.get_logger(__name__)


class _DatabaseCollector(Collector):
    """Per-task state every replica shares, read when Prometheus scrapes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        last_success = GaugeMetricFamily(
            "partnersync_last_success_timestamp_seconds",
            "When each task's latest successful run finished (Unix time)",
            labels=["task"],
        )
        running = GaugeMetricFamily(
            "partnersync_task_running", "1 while a task's run is going on", labels=["task"]
        )
        failures = GaugeMetricFamily(
            "partnersync_task_consecutive_failures",
            "Failed runs in a row since the last success",
            labels=["task"],
        )
        budget = GaugeMetricFamily(
            "partnersync_api_budget_requests_per_second",
            "What every process using an API key may send together now (the shared budget)",
            labels=["api", "key"],
        )
        consumers = GaugeMetricFamily(
            "partnersync_api_consumers",
            "Processes using an API key now",
            labels=["api", "key"],
        )
        rate = GaugeMetricFamily(
            "partnersync_api_requests_per_second",
            "Requests per second sent with an API key by all its consumers, last heartbeat",
            labels=["api", "key"],
        )
        last_delivery = GaugeMetricFamily(
            "partnersync_webhook_last_delivery_timestamp_seconds",
            "When the receiver last stored a Northpass webhook delivery (Unix time)",
        )
        refused = CounterMetricFamily(
            "partnersync_api_key_rate_limited",
            "429 answers to any process using an API key (the shared budget's count)",
            labels=["api", "key"],
        )
        try:
            with self.engine.connect() as connection:
                keys = ledger.usage(connection)
                successes = connection.execute(
                    select(sync_logs.c.sync_type, func.max(sync_logs.c.completed_at))
                    .where(sync_logs.c.status == "success")
                    .group_by(sync_logs.c.sync_type)
                ).all()
                tasks = connection.execute(
                    select(
                        scheduled_tasks.c.task_type,
                        scheduled_tasks.c.status,
                        scheduled_tasks.c.consecutive_failures,
                    )
                ).all()
                delivered = delivery_facts(connection).last_delivery
        except SQLAlchemyError as exc:
            log.warning("metrics: database unavailable", error=str(exc))
            return
        for task, finished in successes:
            if finished is not None:
                last_success.add_metric([task], finished.timestamp())
        for task, status, consecutive in tasks:
            running.add_metric([task], 1.0 if status == "running" else 0.0)
            failures.add_metric([task], float(consecutive))
        for key in keys:
            labels = [key.api, key.key_id]
            budget.add_metric(labels, key.budget)
            consumers.add_metric(labels, float(key.consumers))
            rate.add_metric(labels, key.requests_per_second)
            refused.add_metric(labels, float(key.rate_limited))
        if delivered is not None:
            last_delivery.add_metric([], delivered.timestamp())
        yield last_success
        yield last_delivery
        yield running
        yield failures
        yield budget
        yield consumers
        yield rate
        yield refused


class RunMetrics:
    """The app's registry; `observe` is handed every finished run of this process."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter(
            "partnersync_runs",
            "Finished runs by task and status",
            ["task", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "partnersync_run_duration_seconds",
            "Run duration by task",
            ["task"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.records = Counter(
            "partnersync_records",
            "Records handled by task and kind (processed, created, updated, deleted, failed)",
            ["task", "kind"],
            registry=self.registry,
        )
        self.api_requests = Counter(
            "partnersync_api_requests",
            "Requests sent per vendor API, every attempt counted",
            ["api"],
            registry=self.registry,
        )
        self.api_rate_limited = Counter(
            "partnersync_api_rate_limited",
            "429 answers per vendor API",
            ["api"],
            registry=self.registry,
        )
        self.api_retries = Counter(
            "partnersync_api_retries",
            "Retried attempts per vendor API",
            ["api"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "partnersync_auth_failures",
            "Requests refused for a missing or wrong bearer token",
            registry=self.registry,
        )
        self.webhooks_received = Counter(
            "partnersync_webhooks_received",
            "Signed webhook deliveries, stored or recognised as duplicates",
            ["result"],
            registry=self.registry,
        )
        self.webhooks_refused = Counter(
            "partnersync_webhooks_refused",
            "Webhook deliveries refused for a missing or wrong signature",
            registry=self.registry,
        )
        self.registry.register(_DatabaseCollector(engine))
        for task in TASKS:  # every series exists from the start, at zero
            for status in ("success", "failed"):
                self.runs.labels(task.name, status)
            for kind in RECORD_KINDS:
                self.records.labels(task.name, kind)
        for result in ("stored", "duplicate"):
            self.webhooks_received.labels(result)
        for api in APIS:
            self.api_requests.labels(api)
            self.api_rate_limited.labels(api)
            self.api_retries.labels(api)

    def observe(self, outcome: RunOutcome) -> None:
        report = outcome.report
        self.runs.labels(outcome.task, outcome.status).inc()
        seconds = (outcome.completed_at - outcome.started_at).total_seconds()
        self.duration.labels(outcome.task).observe(max(seconds, 0.0))
        for kind in RECORD_KINDS:
            self.records.labels(outcome.task, kind).inc(report.total(kind))
        for api, stats in report.api_requests.items():
            self.api_requests.labels(api).inc(stats.get("requests", 0))
            self.api_rate_limited.labels(api).inc(stats.get("rate_limited", 0))
            self.api_retries.labels(api).inc(stats.get("retries", 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
