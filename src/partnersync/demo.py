"""`partnersync demo`: the zero-setup tour.

The sandbox (`demo` size) runs in this process on loopback, an embedded SQLite file holds
the data, every task of `sync all` runs once through the runner, a summary is printed, and
then the scheduler, API and dashboard are served until Ctrl-C.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine, func, select

from partnersync.config import Settings
from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate
from partnersync.db.schema import metadata
from partnersync.sandbox.server import RunningSandbox, running_sandbox
from partnersync.tasks.outcome import RunOutcome
from partnersync.tasks.registry import TASKS
from partnersync.tasks.run_all import all_succeeded, run_all
from partnersync.terminal import progress_bars, summary

SANDBOX_RATE = 60.0
"""The demo raises the sandbox's limit (10/s) so the tour takes seconds; the client stays under."""
CLIENT_RATE = 50.0

SHOWN_TABLES = (
    "partners",
    "contacts",
    "lms_users",
    "lms_groups",
    "lms_group_members",
    "lms_courses",
    "lms_enrollments",
    "group_analysis_suggestions",
    "sync_logs",
)


def demo_settings(sandbox: RunningSandbox, database: Path, token: str) -> Settings:
    values: dict[str, Any] = {
        "PARTNERSYNC_DATABASE_URL": f"sqlite:///{database}",
        "NORTHPASS_BASE_URL": sandbox.base_url,
        "NORTHPASS_API_KEY": sandbox.northpass_key,
        "NORTHPASS_RATE_PER_SECOND": CLIENT_RATE,
        "IMPARTNER_BASE_URL": sandbox.base_url,
        "IMPARTNER_API_KEY": sandbox.impartner_key,
        "IMPARTNER_TENANT_ID": sandbox.tenant_id,
        "IMPARTNER_RATE_PER_SECOND": CLIENT_RATE,
        "PARTNERSYNC_API_TOKEN": token,
    }
    return Settings(**values)


def fresh_database(path: Path) -> Engine:
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine, TASKS)
    return engine


def row_counts(engine: Engine) -> Table:
    table = Table("table", "rows", title="what is stored")
    with engine.connect() as connection:
        for name in SHOWN_TABLES:
            count = connection.scalar(select(func.count()).select_from(metadata.tables[name]))
            table.add_row(name, f"{count:,}")
    return table


def run_demo(console: Console, *, serve: bool, port: int, database: Path) -> bool:
    """The tour; returns whether every run succeeded."""
    token = secrets.token_urlsafe(18)
    started = time.perf_counter()
    console.print(Text.assemble(("partnersync demo", "bold"), ": generating the sandbox's data …"))
    with running_sandbox(size="demo", seed=1, rate_limit_per_second=SANDBOX_RATE) as sandbox:
        console.print(f"sandbox (simulated Northpass + Impartner) at {sandbox.base_url}")
        settings = demo_settings(sandbox, database.resolve(), token)
        engine = fresh_database(database.resolve())
        console.print(f"embedded database: {database}")
        with progress_bars(console) as progress:
            outcomes = run_all(engine, settings, progress=progress)
        console.print(summary(outcomes))
        console.print(row_counts(engine))
        requests = sum(o.report.requests for o in outcomes if isinstance(o, RunOutcome))
        console.print(
            f"{requests:,} API requests; {time.perf_counter() - started:.1f} s from start to here"
        )
        if serve:
            serve_dashboard(engine, settings, console, port, token)
    return all_succeeded(outcomes)


def serve_dashboard(
    engine: Engine, settings: Settings, console: Console, port: int, token: str
) -> None:
    from partnersync.web.server import build_service
    from partnersync.web.server import serve as serve_web

    api, scheduler = build_service(engine, settings)
    console.print(
        Text.assemble(
            ("\ndashboard: ", "bold"),
            f"http://127.0.0.1:{port}/   ",
            ("API token", "bold"),
            f" (paste it into the page): {token}\nCtrl-C stops the demo.",
        )
    )
    serve_web(api, scheduler, "127.0.0.1", port)
