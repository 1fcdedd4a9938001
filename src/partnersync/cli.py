"""The `partnersync` command line."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from partnersync.config import ConfigError, Settings, load_settings
from partnersync.db.engine import make_engine
from partnersync.db.migrate import migrate as run_migrations
from partnersync.db.schema import scheduled_tasks

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
console = Console()
err = Console(stderr=True)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@app.command()
def migrate() -> None:
    """Create or upgrade the schema and seed the task registry (idempotent)."""
    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    added = run_migrations(engine)
    console.print(f"schema is current; {added} task(s) added to the registry")


@app.command()
def tasks() -> None:
    """The task registry with each task's state."""
    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    with engine.connect() as connection:
        rows = connection.execute(select(scheduled_tasks).order_by(scheduled_tasks.c.id)).all()
    table = Table("task", "enabled", "interval", "status", "last", "last run", "next run")
    for row in rows:
        table.add_row(
            row.task_type,
            "yes" if row.enabled else "no",
            f"{row.interval_minutes} min",
            row.status,
            row.last_status or "-",
            f"{row.last_run_at:%Y-%m-%d %H:%M}" if row.last_run_at else "-",
            f"{row.next_run_at:%Y-%m-%d %H:%M}" if row.next_run_at else "-",
        )
    console.print(table)
