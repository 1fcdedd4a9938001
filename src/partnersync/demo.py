"""`partnersync demo`: the zero-setup tour.

The sandbox (`demo` size) runs in this process on loopback, an embedded SQLite file holds
the data, every task of `sync all` runs once through the runner, a summary is printed, and
then the scheduler, API and dashboard are served until Ctrl-C.
"""

from __future__ import annotations

import secrets
import socket
import sqlite3
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


DEMO_APPLICATION_ID = 0x70736E63
"""`PRAGMA application_id` of a demo database ("psnc"): only such a file is ever replaced."""


class NotADemoDatabase(RuntimeError):
    """The file named for the demo's database holds something else."""


def is_demo_database(path: Path) -> bool:
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return bool(
                connection.execute("PRAGMA application_id").fetchone()[0] == DEMO_APPLICATION_ID
            )
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return False


def check_replaceable(path: Path, *, force: bool) -> None:
    """An existing file is replaced only if it is an earlier demo database (or `force`), so
    `--database partnersync.db` cannot wipe real data."""
    if path.exists() and not force and not is_demo_database(path):
        raise NotADemoDatabase(
            f"{path} exists and is not a partnersync demo database: choose another --database, "
            "or pass --force to replace it"
        )


def fresh_database(path: Path) -> Engine:
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql(f"PRAGMA application_id = {DEMO_APPLICATION_ID}")
    migrate(engine, TASKS)
    return engine


def row_counts(engine: Engine) -> Table:
    table = Table("table", "rows", title="what is stored")
    with engine.connect() as connection:
        for name in SHOWN_TABLES:
            count = connection.scalar(select(func.count()).select_from(metadata.tables[name]))
            table.add_row(name, f"{count:,}")
    return table


def run_demo(
    console: Console, *, serve: bool, port: int, database: Path, force: bool = False
) -> bool:
    """The tour; returns whether every run succeeded."""
    from partnersync.web.server import listen

    token = secrets.token_urlsafe(18)
    started = time.perf_counter()
    check_replaceable(database.resolve(), force=force)
    listener = listen("127.0.0.1", port) if serve else None  # a taken port ends it here
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
        if listener is not None:
            serve_dashboard(engine, settings, console, listener, token)
    return all_succeeded(outcomes)


def serve_dashboard(
    engine: Engine, settings: Settings, console: Console, listener: socket.socket, token: str
) -> None:
    from partnersync.web.server import build_service
    from partnersync.web.server import serve as serve_web

    api, scheduler = build_service(engine, settings)
    console.print(
        Text.assemble(
            ("\ndashboard: ", "bold"),
            f"http://127.0.0.1:{listener.getsockname()[1]}/   ",
            ("API token", "bold"),
            f" (paste it into the page): {token}\nCtrl-C stops the demo.",
        )
    )
    serve_web(api, scheduler, listener)
