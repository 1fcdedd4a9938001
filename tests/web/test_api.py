"""The HTTP API over a real database: auth, validation, runs, schedule changes, history."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from partnersync.budget import ledger
from partnersync.budget.rule import BudgetRule
from partnersync.config import ConfigError, Settings
from partnersync.db.schema import scheduled_tasks
from partnersync.db.types import utcnow
from partnersync.tasks import leases
from partnersync.tasks.registry import TASKS
from partnersync.tasks.runner import INTERRUPTED
from partnersync.web.app import create_app

from .conftest import TOKEN, Gate, functions, wait_for_run, wait_until, web_settings


def test_health_needs_no_token(client: TestClient) -> None:
    client.headers.pop("Authorization")
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": True,
        "scheduler": "absent",
        "scheduler_heartbeat_age_seconds": None,
    }


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_everything_but_health_needs_the_token(client: TestClient, headers: dict[str, str]) -> None:
    client.headers.pop("Authorization")
    for method, path in [
        ("GET", "/api/tasks"),
        ("GET", "/api/tasks/sync_users"),
        ("POST", "/api/tasks/sync_users/run"),
        ("PATCH", "/api/tasks/sync_users"),
        ("GET", "/api/sync-logs"),
        ("GET", "/api/links"),
        ("GET", "/api/suggestions"),
        ("GET", "/metrics"),
    ]:
        response = client.request(method, path, headers=headers, json={"enabled": False})
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.get(f"/api/tasks?token={TOKEN}").status_code == 401  # never from a URL


def test_the_dashboard_and_its_assets_need_no_token(client: TestClient) -> None:
    client.headers.pop("Authorization")
    page = client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text
    for asset in ("/static/app.js", "/static/app.css"):
        assert client.get(asset).status_code == 200


def test_an_app_without_a_token_is_refused_naming_the_setting(engine: Engine) -> None:
    with pytest.raises(ConfigError, match="PARTNERSYNC_API_TOKEN"):
        create_app(engine, Settings())


def test_tasks_are_listed_in_dependency_order_with_their_state(client: TestClient) -> None:
    tasks = client.get("/api/tasks").json()
    assert [task["name"] for task in tasks] == [task.name for task in TASKS]
    users = tasks[[t["name"] for t in tasks].index("sync_users")]
    assert users["interval_minutes"] == 120
    assert users["status"] == "idle"
    assert users["runnable"] is True
    assert users["last_run"] is None
    assert tasks[[t["name"] for t in tasks].index("cleanup")]["runnable"] is False


def test_a_run_answers_202_with_its_id_and_is_recorded(client: TestClient) -> None:
    response = client.post("/api/tasks/sync_users/run")
    assert response.status_code == 202
    started = response.json()
    assert started["task"] == "sync_users"
    assert started["mode"] == "incremental"
    run = wait_for_run(client, started["run_id"])
    assert run["status"] == "success"
    assert run["trigger"] == "api"
    assert (run["records_processed"], run["records_created"], run["records_updated"]) == (5, 2, 1)
    assert run["api"]["northpass"] == {
        "requests": 7,
        "rate_limited": 1,
        "retries": 2,
        "failures": 0,
    }
    task = client.get("/api/tasks/sync_users").json()
    assert task["last_status"] == "success"
    assert task["last_run"]["id"] == started["run_id"]


def test_full_mode_and_mode_validation(client: TestClient) -> None:
    started = client.post("/api/tasks/sync_users/run", params={"mode": "full"}).json()
    assert wait_for_run(client, started["run_id"])["mode"] == "full"
    assert client.post("/api/tasks/sync_users/run", params={"mode": "bogus"}).status_code == 422


def test_unknown_tasks_are_404(client: TestClient) -> None:
    assert client.get("/api/tasks/nope").status_code == 404
    assert client.post("/api/tasks/nope/run").status_code == 404
    assert client.patch("/api/tasks/nope", json={"enabled": False}).status_code == 404
    # a registered task this server has no code for cannot be started either
    assert client.post("/api/tasks/cleanup/run").status_code == 404


def test_409_when_a_lease_is_held_by_another_process(engine: Engine, client: TestClient) -> None:
    with engine.begin() as connection:
        leases.acquire(connection, "sync_users", "other-host:1", utcnow(), timedelta(minutes=5))
    response = client.post("/api/tasks/sync_users/run")
    assert response.status_code == 409
    assert "other-host:1" in response.json()["detail"]


def test_a_running_task_shows_live_progress_and_refuses_a_second_run(
    client: TestClient, gate: Gate
) -> None:
    run_id = client.post("/api/tasks/sync_courses/run").json()["run_id"]
    assert client.post("/api/tasks/sync_courses/run").status_code == 409

    def progress_seen() -> bool:
        task = client.get("/api/tasks/sync_courses").json()
        return task["progress"] is not None and task["progress"]["stage"] == "waiting"

    wait_until(progress_seen)
    task = client.get("/api/tasks/sync_courses").json()
    assert (task["status"], task["running_log_id"]) == ("running", run_id)
    assert 0 < task["progress"]["done"] <= task["progress"]["total"] == 100
    run = client.get(f"/api/sync-logs/{run_id}").json()
    assert run["status"] == "running"
    assert run["progress"]["stage"] == "waiting"
    gate.opened.set()
    assert wait_for_run(client, run_id)["status"] == "success"
    assert client.get("/api/tasks/sync_courses").json()["progress"] is None


def test_patch_enables_disables_and_changes_the_interval(client: TestClient) -> None:
    off = client.patch("/api/tasks/sync_users", json={"enabled": False})
    assert off.status_code == 200
    assert off.json()["enabled"] is False
    assert client.patch("/api/tasks/sync_users", json={"enabled": True}).json()["enabled"] is True
    run = wait_for_run(client, client.post("/api/tasks/sync_users/run").json()["run_id"])
    changed = client.patch("/api/tasks/sync_users", json={"interval_minutes": 30}).json()
    assert changed["interval_minutes"] == 30
    next_run = datetime.fromisoformat(changed["next_run_at"])
    assert next_run == datetime.fromisoformat(run["started_at"]) + timedelta(minutes=30)


@pytest.mark.parametrize(
    "body",
    [{"interval_minutes": 0}, {"interval_minutes": -5}, {}, {"enabled": "maybe"}, {"colour": 1}],
    ids=["zero", "negative", "empty", "not-bool", "unknown-field"],
)
def test_patch_validation(client: TestClient, body: dict[str, object]) -> None:
    assert client.patch("/api/tasks/sync_users", json=body).status_code == 422


def test_sync_logs_filters_and_failed_runs_carry_their_error(client: TestClient) -> None:
    for task in ("sync_users", "sync_groups", "sync_users"):
        wait_for_run(client, client.post(f"/api/tasks/{task}/run").json()["run_id"])
    everything = client.get("/api/sync-logs").json()
    assert [run["task"] for run in everything] == ["sync_users", "sync_groups", "sync_users"]
    users = client.get("/api/sync-logs", params={"task": "sync_users"}).json()
    assert {run["task"] for run in users} == {"sync_users"} and len(users) == 2
    (failed,) = client.get("/api/sync-logs", params={"status": "failed"}).json()
    assert failed["task"] == "sync_groups"
    assert "GET /v2/people?page=3 failed" in failed["error_message"]
    assert len(client.get("/api/sync-logs", params={"limit": 1}).json()) == 1
    assert client.get("/api/sync-logs", params={"status": "bogus"}).status_code == 422
    assert client.get("/api/sync-logs", params={"limit": 0}).status_code == 422
    twice = client.get("/api/sync-logs?status=failed&status=success")
    assert twice.status_code == 422 and "more than once" in twice.text
    assert client.get("/api/sync-logs/999999").status_code == 404
    stats = client.get("/api/run-stats").json()
    assert [point["status"] for point in stats["sync_users"]] == ["success", "success"]
    assert stats["sync_users"][0]["records_written"] == 3
    usage = {api["name"]: api for api in client.get("/api/api-usage").json()["apis"]}
    assert usage["northpass"]["requests"] == 14
    assert usage["northpass"]["rate_limited"] == 2
    assert usage["northpass"]["budget_per_second"] == 8.0
    assert usage["northpass"]["ceiling_per_second"] == 10.0
    assert usage["impartner"]["ceiling_per_second"] == usage["impartner"]["budget_per_second"]
    assert "api_key" not in str(usage).lower()


def test_each_keys_shared_budget_shows_in_api_usage_and_metrics(
    client: TestClient, engine: Engine
) -> None:
    """What the processes using a key report is what the dashboard and Prometheus show."""
    rule = BudgetRule(start=8.0, ceiling=10.0)
    for consumer, used in (("replica-1", 4.5), ("replica-2", 4.0)):
        with engine.begin() as connection:
            ledger.heartbeat(
                connection,
                key_id="northpass:00ff00ff00ff00ff",
                api="northpass",
                consumer=consumer,
                rule=rule,
                beat=ledger.Beat(requests=90, rate_limited=1, used=used),
                ttl=timedelta(minutes=5),
            )
    [key] = client.get("/api/api-usage").json()["apis"][0]["keys"]
    assert key["key_id"] == "northpass:00ff00ff00ff00ff"
    assert (key["consumers"], key["requests"], key["rate_limited"]) == (2, 180, 2)
    assert key["requests_per_second"] == pytest.approx(8.5)
    assert 0 < key["budget_per_second"] <= 10.0
    labels = '{api="northpass",key="northpass:00ff00ff00ff00ff"}'
    text = client.get("/metrics").text
    assert f"partnersync_api_consumers{labels} 2.0" in text
    assert f"partnersync_api_requests_per_second{labels} 8.5" in text
    assert f"partnersync_api_key_rate_limited_total{labels} 2.0" in text
    assert f"partnersync_api_budget_requests_per_second{labels}" in text


def test_metrics_count_runs_records_and_api_requests(client: TestClient) -> None:
    wait_for_run(client, client.post("/api/tasks/sync_users/run").json()["run_id"])
    wait_for_run(client, client.post("/api/tasks/sync_groups/run").json()["run_id"])
    counted = 'partnersync_runs_total{status="failed",task="sync_groups"} 1.0'
    wait_until(lambda: counted in client.get("/metrics").text)  # observed after the row is written
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'partnersync_runs_total{status="success",task="sync_users"} 1.0' in text
    assert 'partnersync_runs_total{status="failed",task="sync_groups"} 1.0' in text
    assert 'partnersync_records_total{kind="created",task="sync_users"} 2.0' in text
    assert 'partnersync_api_requests_total{api="northpass"} 7.0' in text
    assert 'partnersync_api_rate_limited_total{api="northpass"} 1.0' in text
    assert 'partnersync_api_retries_total{api="northpass"} 2.0' in text
    assert 'partnersync_run_duration_seconds_count{task="sync_users"} 1.0' in text
    assert 'partnersync_last_success_timestamp_seconds{task="sync_users"}' in text
    assert 'partnersync_last_success_timestamp_seconds{task="sync_groups"}' not in text
    assert 'partnersync_task_consecutive_failures{task="sync_groups"} 1.0' in text


def test_the_app_shutdown_records_running_runs_failed(engine: Engine, gate: Gate) -> None:
    app = create_app(engine, web_settings(), functions=functions(gate))
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        run_id = client.post("/api/tasks/sync_courses/run").json()["run_id"]
    with engine.connect() as connection:  # grace 0: cancelled at its next checkpoint
        task = connection.execute(
            select(scheduled_tasks).where(scheduled_tasks.c.task_type == "sync_courses")
        ).one()
    assert (task.status, task.last_status, task.last_error) == ("idle", "failed", INTERRUPTED)
    assert run_id > 0
