"""`partnersync serve` as an operator runs it: the installed console script."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import update

from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.db.schema import scheduled_tasks
from partnersync.tasks.registry import TASKS

from .conftest import log_rows, wait_for

SCRIPT = Path(sys.executable).with_name("partnersync")


def environment(url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    return {
        **env,
        "PARTNERSYNC_DATABASE_URL": url,
        "PARTNERSYNC_SCHEDULER_TICK_SECONDS": "0.1",
        "PARTNERSYNC_API_TOKEN": "serve-test-token-long",
        "PARTNERSYNC_HTTP_PORT": "0",
    }


def test_serve_refuses_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(SCRIPT), "serve"],
        env=environment(f"sqlite:///{tmp_path / 'new.db'}"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "partnersync migrate" in result.stderr


def test_serve_runs_due_tasks_through_the_runner_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = make_engine(url)
    migrate(engine, TASKS)
    with engine.begin() as connection:
        connection.execute(
            update(scheduled_tasks)
            .where(scheduled_tasks.c.task_type.not_in(("sync_users", "sync_courses")))
            .values(enabled=False)
        )
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--owner", "cli-replica", "--max-concurrent", "1"],
        env=environment(url),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:  # no API key is set, so the real tasks fail, each recorded with the reason
        wait_for(lambda: [row.status for row in log_rows(engine)] == ["failed", "failed"], 30)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    runs = log_rows(engine)
    assert [run.sync_type for run in runs] == ["sync_courses", "sync_users"]
    assert all("NORTHPASS_API_KEY" in run.error_message for run in runs)
    assert {(run.owner, run.trigger) for run in runs} == {("cli-replica", "schedule")}
