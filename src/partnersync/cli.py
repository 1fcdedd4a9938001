"""The `partnersync` command line.

Exit codes: 0 success, 1 a run failed, 2 bad usage or configuration, 3 the task is
already running elsewhere.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn, cast

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from partnersync import logs
from partnersync.config import ConfigError, Settings, load_settings, unknown_variables
from partnersync.db.access import DatabaseUnusable, current_schema_problem, open_database
from partnersync.db.engine import describe_database_error
from partnersync.db.migrate import migrate as run_migrations
from partnersync.db.types import utcnow
from partnersync.doctor import diagnose
from partnersync.doctor.report import MARKS, Checklist
from partnersync.sync import group_links
from partnersync.sync.report import printable
from partnersync.sync.state import list_watermarks, reset_watermark
from partnersync.tasks import access_audit, analysis
from partnersync.tasks.dry_run import dry_run as run_dry
from partnersync.tasks.functions import TASK_FUNCTIONS
from partnersync.tasks.outcome import RunOutcome
from partnersync.tasks.partner_refresh import is_active_partner, refresh_partner
from partnersync.tasks.registry import (
    DRY_RUN_TASKS,
    PARTNER_REFRESH,
    SYNC_ALL_ORDER,
    TASKS,
    missing_settings,
)
from partnersync.tasks.run_all import SkippedTask, all_succeeded, for_task, run_all
from partnersync.tasks.runner import AlreadyRunning, UnknownTask, run_task
from partnersync.tasks.schedule import change_schedule
from partnersync.terminal import progress_bars, summary
from partnersync.types import AccessAction, Mode
from partnersync.web import queries
from partnersync.web.server import PortTaken, build_service, listen
from partnersync.web.server import serve as serve_web

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ALREADY_RUNNING = 3
EXIT_INTERRUPTED = 130

app = typer.Typer(
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=__doc__,
    pretty_exceptions_show_locals=False,  # a frame's locals may hold settings or a database URL
)
console = Console(markup=False, highlight=False)  # vendor and database text is shown literally
err = Console(stderr=True, markup=False, highlight=False)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"partnersync {version('partnersync')}")
        raise typer.Exit()


JSON_OUTPUT = typer.Option(False, "--json", help="JSON on stdout, for scripts (fields: README)")


def emit_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


class SafeTable(Table):
    """A table that shows vendor and database text literally: control characters escaped."""

    def add_row(self, *cells: Any, **options: Any) -> None:
        super().add_row(*(printable(c) if isinstance(c, str) else c for c in cells), **options)


def listing(*columns: str) -> Table:
    """A table whose values are never cut: a narrow terminal folds them onto more lines, so an
    id can always be copied whole. Piped (not a terminal), it is plain columns of text."""
    table = SafeTable() if console.is_terminal else SafeTable(box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


@app.callback()
def main(
    log_level: str = typer.Option("WARNING", envvar="PARTNERSYNC_LOG_LEVEL", help="log level"),
    log_json: bool = typer.Option(False, envvar="PARTNERSYNC_LOG_JSON", help="JSON log lines"),
    _version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="print the version"
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="say which database and vendors a command uses"
    ),
) -> None:
    """Keeps a MariaDB database in sync with Northpass LMS and Impartner PRM."""
    try:
        logs.configure(log_level, json=log_json)
    except ValueError as exc:
        fail(f"invalid configuration: PARTNERSYNC_LOG_LEVEL: {exc}")
    OPTIONS.verbose = verbose


@dataclasses.dataclass
class GlobalOptions:
    """The options given before the command, for the helpers every command calls."""

    verbose: bool = False  # name what the command uses (database, vendors) on stderr


OPTIONS = GlobalOptions()


def settings_or_exit() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        fail(str(exc))
    logs.redact(settings.secrets())
    for warning in unknown_variables(os.environ):
        err.print(Text(warning, style="yellow"), soft_wrap=True)
    if OPTIONS.verbose:
        err.print(
            f"database {settings.database_url_masked}; Northpass {settings.northpass_base_url}; "
            f"Impartner {settings.impartner_base_url} (tenant {settings.impartner_tenant_id})",
            soft_wrap=True,
        )
    return settings


def database_or_exit(settings: Settings, *, schema: bool = True) -> Engine:
    """The database, reachable and (with `schema`) current; else one line and exit 2."""
    try:
        engine = open_database(settings.database_url, create=not schema)
    except DatabaseUnusable as exc:
        fail(str(exc))
    problem = current_schema_problem(engine) if schema else None
    if problem:
        fail(problem)
    return engine


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr, printed literally (it may quote vendor or database text), then exit."""
    err.print(Text(printable(message), style="red"), soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def migrate() -> None:
    """Create or upgrade the schema and seed the task registry (idempotent)."""
    settings = settings_or_exit()
    engine = database_or_exit(settings, schema=False)
    added = run_migrations(engine, TASKS)
    console.print(f"schema is current; {added} task(s) added to the registry")


@app.command()
def doctor(as_json: bool = JSON_OUTPUT) -> None:
    """Check settings, database and the vendor behaviour the sync relies on (read-only, about
    20 vendor requests); exit 1 if a check fails."""
    checklist = diagnose(os.environ)
    if as_json:
        emit_json(checklist.as_json())
    else:
        print_checklist(checklist)
    raise typer.Exit(0 if checklist.ok else EXIT_FAILED)


def print_checklist(checklist: Checklist) -> None:
    styles = {"ok": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
    width = max(len(check.name) for check in checklist.checks)
    for check in checklist.checks:
        line = Text(f"{MARKS[check.status]} ", style=styles[check.status])
        line.append(f"{check.name:<{width}}  {printable(check.detail)}")
        if check.fix:
            line.append(f"\n  {' ' * width}  → {printable(check.fix)}", style="bold")
        console.print(line, soft_wrap=not console.is_terminal)
    spent = ", ".join(f"{vendor} {n}" for vendor, n in checklist.requests.items())
    failed = sum(check.status == "fail" for check in checklist.checks)
    verdict = f"{failed} check(s) failed" if failed else "every check passed"
    console.print(f"{verdict}; vendor requests: {spent or 'none'}")


@app.command()
def token() -> None:
    """Print a new random API token (256 bits) for PARTNERSYNC_API_TOKEN."""
    typer.echo(secrets.token_urlsafe(32))


@app.command()
def demo(
    serve: bool = typer.Option(True, "--serve/--no-serve", help="serve the dashboard afterwards"),
    port: int = typer.Option(8080, min=0, max=65535, help="dashboard port on 127.0.0.1"),
    database: Path = typer.Option(Path("partnersync-demo.db"), help="the embedded SQLite file"),
    force: bool = typer.Option(False, "--force", help="replace --database even if not a demo's"),
) -> None:
    """Zero-setup tour: sandbox + embedded SQLite + migrate + `sync all` + dashboard."""
    from partnersync.demo import NotADemoDatabase, run_demo

    try:
        succeeded = run_demo(console, serve=serve, port=port, database=database, force=force)
    except (PortTaken, NotADemoDatabase) as exc:
        fail(str(exc))
    if not succeeded:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def sandbox(
    size: str = typer.Option("demo", help="tiny, demo or reference"),
    port: int = typer.Option(8700, help="port on 127.0.0.1 (0 picks a free one)"),
    seed: int = typer.Option(1, help="data generator seed"),
    env_file: Path | None = typer.Option(
        None, "--env-file", help="write the settings that use the sandbox to this .env file"
    ),
) -> None:
    """Serve the simulated Northpass and Impartner APIs on loopback until Ctrl-C."""
    from partnersync.sandbox.generator import SIZES
    from partnersync.sandbox.server import main as serve_sandbox

    if size not in SIZES:
        fail(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    try:
        serve_sandbox(size, port, seed, env_file)
    except OSError as exc:
        fail(f"the sandbox cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; use --port")


tasks_app = typer.Typer(
    help="The task registry: list it, enable or disable a task, set its interval."
)
app.add_typer(tasks_app, name="tasks")


@tasks_app.callback(invoke_without_command=True)
def tasks(ctx: typer.Context, as_json: bool = JSON_OUTPUT) -> None:
    """The task registry with each task's state."""
    if ctx.invoked_subcommand is not None:
        return
    settings = settings_or_exit()
    engine = database_or_exit(settings)
    with engine.connect() as connection:
        states = queries.task_states(connection, tuple(TASK_FUNCTIONS))
    if as_json:
        emit_json([state.model_dump(mode="json") for state in states])
        return
    table = listing("task", "enabled", "interval", "status", "last", "last run", "next run")
    for state in states:
        table.add_row(
            state.name,
            "yes" if state.enabled else "no",
            f"{state.interval_minutes} min",
            state.status,
            state.last_status or "-",
            f"{state.last_run_at:%Y-%m-%d %H:%M}" if state.last_run_at else "-",
            f"{state.next_run_at:%Y-%m-%d %H:%M}" if state.next_run_at else "-",
        )
    console.print(table)


def _change_schedule(task: str, **change: Any) -> None:
    engine = database_or_exit(settings_or_exit())
    with engine.begin() as connection:
        found = change_schedule(connection, task, **change)
    if not found:
        fail(f"unknown task {task!r}; see `partnersync tasks`")
    console.print(f"{task}: " + ", ".join(f"{name} = {value}" for name, value in change.items()))


@tasks_app.command("enable")
def tasks_enable(task: str = typer.Argument(..., help="a task name")) -> None:
    """Let the scheduler run the task again."""
    _change_schedule(task, enabled=True)


@tasks_app.command("disable")
def tasks_disable(task: str = typer.Argument(..., help="a task name")) -> None:
    """Keep the scheduler from running the task (it can still be run by hand)."""
    _change_schedule(task, enabled=False)


@tasks_app.command("interval")
def tasks_interval(
    task: str = typer.Argument(..., help="a task name"),
    every: str = typer.Argument(..., help="minutes, or with a unit: 90m, 2h, 1d"),
) -> None:
    """Run the task this often; the next run is one new interval after the last."""
    minutes = parse_interval(every)
    if minutes is None:
        fail(f"{every!r} is not an interval from 1 minute to 30 days (say 90, 90m, 2h or 1d)")
    _change_schedule(task, interval_minutes=minutes)


INTERVAL_UNITS = {"m": 1, "h": 60, "d": 1440}


def parse_interval(text: str) -> int | None:
    """`90`, `90m`, `2h`, `1d` → minutes (1 … 43,200), or None."""
    text = text.strip().lower()
    unit = INTERVAL_UNITS.get(text[-1:]) if text[-1:].isalpha() else 1
    number = text[:-1] if text[-1:].isalpha() else text
    if unit is None or not number.isdigit():
        return None
    minutes = int(number) * unit
    return minutes if 1 <= minutes <= 43200 else None


@app.command()
def sync(
    task: str = typer.Argument(
        ..., help="a task name, `all` for every sync task in order, or `partner` and its id"
    ),
    partner_id: int | None = typer.Argument(None, help="with `partner`: the partner's id"),
    full: bool = typer.Option(False, "--full", help="read everything and sweep deletions"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="print the vendor writes the task would make; change nothing"
    ),
    allow_mass_delete: bool = typer.Option(
        False,
        "--allow-mass-delete",
        help="this once, delete even more than PARTNERSYNC_SWEEP_MAX_SHARE of a table",
    ),
) -> None:
    """Run a task now, through the same runner, lease and history as the schedule;
    `sync partner ID` refreshes one partner (its members, transcripts and pushed counts)."""
    functions = dict(TASK_FUNCTIONS)
    if task == "partner":
        if partner_id is None:
            fail("`sync partner` needs the partner's id (partners.id, see GET /api/partners)")
        if dry_run or full:
            fail("`sync partner ID` takes neither --dry-run nor --full")
        task = PARTNER_REFRESH.name
        functions[task] = refresh_partner(partner_id)
    elif partner_id is not None:
        fail(f"unexpected extra argument {partner_id}: only `sync partner ID` takes an id")
    names = [name for name in SYNC_ALL_ORDER if name in TASK_FUNCTIONS] if task == "all" else [task]
    unknown = [name for name in names if name not in functions]
    if unknown:
        fail(f"unknown task {unknown[0]!r}; known: {', '.join(TASK_FUNCTIONS)}, partner ID")
    if dry_run and task not in DRY_RUN_TASKS:
        fail(
            f"--dry-run is not supported by {task!r}; "
            f"tasks that support it: {', '.join(sorted(DRY_RUN_TASKS))}"
        )
    settings = settings_or_exit()
    if allow_mass_delete:
        settings = settings.model_copy(update={"allow_mass_delete": True})
    engine = database_or_exit(settings)
    present = {
        name
        for name, secret in (
            ("NORTHPASS_API_KEY", settings.northpass_api_key),
            ("IMPARTNER_API_KEY", settings.impartner_api_key),
        )
        if secret is not None and secret.get_secret_value()
    }
    missing = missing_settings(names, present)
    if missing and not dry_run:
        fail(f"{' and '.join(missing)} must be set for {task}; nothing was run")
    if dry_run:
        print_dry_run(engine, settings, task, "full" if full else "incremental")
        return
    if partner_id is not None:
        with engine.connect() as connection:
            if not is_active_partner(connection, partner_id):
                fail(f"no active partner with id {partner_id}; nothing was run")
    outcomes: list[RunOutcome | SkippedTask] = []
    mode: Mode = "full" if full else "incremental"
    try:
        with progress_bars(console) as callback:
            if task == "all":
                outcomes = run_all(engine, settings, mode=mode, progress=callback, names=names)
            else:
                outcomes.append(
                    run_task(
                        engine,
                        settings,
                        task,
                        functions[task],
                        mode=mode,
                        progress=for_task(callback, task),
                    )
                )
    except AlreadyRunning as exc:
        fail(str(exc), EXIT_ALREADY_RUNNING)
    except (UnknownTask, ConfigError) as exc:
        fail(f"{exc}")
    except KeyboardInterrupt:
        fail(
            "interrupted: the run in progress was recorded as failed; the summary lists what "
            "finished before it (see `partnersync history`)",
            EXIT_INTERRUPTED,
        )
    finally:
        if outcomes:
            console.print(summary(outcomes))
    if not all_succeeded(outcomes):
        raise typer.Exit(EXIT_FAILED)


def print_dry_run(engine: Engine, settings: Settings, task: str, mode: Mode) -> None:
    """Run `task` as a dry run and print its planned writes as JSON on stdout."""
    try:
        result = run_dry(engine, settings, TASK_FUNCTIONS[task], mode=mode)
    except ConfigError as exc:
        fail(f"{exc}")
    typer.echo(json.dumps(result.planned, indent=2, sort_keys=True))
    for stream in result.report.streams.values():
        for note in stream.notes:
            err.print(Text(printable(note)))


@app.command()
def watermarks(
    reset: str | None = typer.Option(
        None, "--reset", help="forget this stream's watermark (or `all`): it reads everything next"
    ),
    as_json: bool = JSON_OUTPUT,
) -> None:
    """Each stream's watermark; `--reset` makes the next incremental run read it all again."""
    engine = database_or_exit(settings_or_exit())
    if reset is not None:
        with engine.begin() as connection:
            forgotten = reset_watermark(connection, None if reset == "all" else reset)
        if not forgotten:
            fail(f"no watermark for {reset!r}; see `partnersync watermarks`")
        console.print(f"forgot {forgotten} watermark(s)")
        return
    with engine.connect() as connection:
        rows = list_watermarks(connection)
    if as_json:
        emit_json(
            [
                {"stream": r.stream, "watermark": r.watermark, "updated_at": r.updated_at}
                for r in rows
            ]
        )
        return
    table = listing("stream", "watermark (UTC)", "set at (UTC)")
    for row in rows:
        table.add_row(
            row.stream, f"{row.watermark:%Y-%m-%d %H:%M:%S}", f"{row.updated_at:%Y-%m-%d %H:%M:%S}"
        )
    console.print(table)


@app.command()
def history(
    limit: int = typer.Option(20, min=1, max=1000),
    task: str | None = typer.Option(None, help="only this task"),
    run_id: int | None = typer.Option(None, "--id", min=1, help="one run, whole"),
    as_json: bool = JSON_OUTPUT,
) -> None:
    """The latest runs from `sync_logs`, newest first; `--id N` shows one run whole."""
    settings = settings_or_exit()
    engine = database_or_exit(settings)
    if run_id is not None:
        with engine.connect() as connection:
            one = queries.sync_log(connection, run_id)
        if one is None:
            fail(f"no run with id {run_id}; see `partnersync history`")
        if as_json:
            emit_json(one.model_dump(mode="json"))
        else:
            print_run(one)
        return
    with engine.connect() as connection:
        runs = queries.sync_logs_page(connection, task, None, limit)
    if as_json:
        emit_json([run.model_dump(mode="json") for run in runs])
        return
    table = listing(
        "id",
        "task",
        "mode",
        "status",
        "started",
        "seconds",
        "processed",
        "created",
        "updated",
        "deleted",
        "failed",
        "requests",
        "error",
    )
    for run in runs:
        seconds = run.duration_seconds
        table.add_row(
            str(run.id),
            run.task,
            run.mode,
            run.status,
            f"{run.started_at:%Y-%m-%d %H:%M:%S}",
            f"{seconds:.1f}" if seconds is not None else "-",
            *(
                str(value)
                for value in (
                    run.records_processed,
                    run.records_created,
                    run.records_updated,
                    run.records_deleted,
                    run.records_failed,
                    run.api_requests,
                )
            ),
            run.error_message or "",
        )
    console.print(table)


def print_run(run: Any) -> None:
    """One run, whole: its summary, each stream's counts, notes and skipped records, its APIs
    and its membership writes."""
    fields = run.model_dump(mode="json")
    details = fields.pop("details", None) or {}
    for name, value in fields.items():
        if name not in ("streams", "api", "progress", "access_changes", "access_changes_total"):
            console.print(printable(f"{name}: {value if value is not None else '-'}"))
    for stream, counts in (details.get("streams") or {}).items():
        console.print(f"stream {stream}:")
        for name, value in counts.items():
            if value not in (None, [], {}):
                console.print(printable(f"  {name}: {value}"))
    for api, stats in (details.get("api") or {}).items():
        console.print(f"api {api}: {stats}")
    if run.access_changes:
        console.print(f"membership writes ({run.access_changes_total}, newest first):")
        console.print(access_table([change.model_dump() for change in run.access_changes]))


@app.command()
def serve(
    owner: str | None = typer.Option(None, help="this replica's name (default host:pid:random)"),
    max_concurrent: int | None = typer.Option(
        None, min=1, help="runs started at a time (default PARTNERSYNC_MAX_CONCURRENT_RUNS)"
    ),
    host: str | None = typer.Option(None, help="listen address (default PARTNERSYNC_HTTP_HOST)"),
    port: int | None = typer.Option(
        None, min=0, max=65535, help="listen port (default PARTNERSYNC_HTTP_PORT)"
    ),
) -> None:
    """Scheduler + HTTP API + dashboard until SIGTERM or SIGINT; replicas may share a database."""
    settings = settings_or_exit()
    engine = database_or_exit(settings)
    try:
        api, scheduler = build_service(engine, settings, owner=owner, max_concurrent=max_concurrent)
    except ConfigError as exc:
        fail(f"{exc}: the HTTP API does not start without a token")
    host = host or settings.http_host
    try:
        sock = listen(host, settings.http_port if port is None else port)
    except PortTaken as exc:
        fail(str(exc))
    console.print(f"partnersync: dashboard and API on http://{host}:{sock.getsockname()[1]}/")
    serve_web(api, scheduler, sock)


link_app = typer.Typer(no_args_is_help=True, help="Manual group ↔ partner links.")
app.add_typer(link_app, name="link")


@link_app.command("set")
def link_set(
    group_id: str = typer.Argument(..., help="the Northpass group id"),
    partner_id: int | None = typer.Argument(None, help="partners.id"),
    impartner_id: int | None = typer.Option(None, help="the partner's Impartner account id"),
) -> None:
    """Link a group to a partner for good: the matcher never overwrites a manual link."""
    engine = database_or_exit(settings_or_exit())
    try:
        with engine.begin() as connection:
            partner = group_links.resolve_partner(connection, partner_id, impartner_id)
            group_links.set_manual_link(connection, group_id, partner)
    except group_links.LinkError as exc:
        fail(f"{exc}")
    console.print(f"group {group_id} is linked to partner {partner} (manual)")


@link_app.command("clear")
def link_clear(group_id: str = typer.Argument(..., help="the Northpass group id")) -> None:
    """Remove a group's link; the next sync_groups may match it again by name."""
    engine = database_or_exit(settings_or_exit())
    try:
        with engine.begin() as connection:
            group_links.clear_manual_link(connection, group_id)
    except group_links.LinkError as exc:
        fail(f"{exc}")
    console.print(f"group {group_id} is unlinked; automatic matching applies again")


@link_app.command("list")
def link_list(
    unlinked: bool = typer.Option(False, "--unlinked", help="only groups without a partner"),
    as_json: bool = JSON_OUTPUT,
) -> None:
    """Live groups with their partner and how they were linked."""
    engine = database_or_exit(settings_or_exit())
    with engine.connect() as connection:
        links = group_links.list_links(connection, unlinked=unlinked)
    if as_json:
        emit_json([dataclasses.asdict(link) for link in links])
        return
    table = listing("group id", "group", "partner id", "impartner id", "partner", "link")
    for link in links:
        table.add_row(
            link.group_id,
            link.group_name,
            str(link.partner_id) if link.partner_id is not None else "-",
            str(link.impartner_id) if link.impartner_id is not None else "-",
            link.partner_name or "-",
            link.link or "-",
        )
    console.print(table)


suggestions_app = typer.Typer(
    help="Users group_analysis suggests adding to a partner group: list, accept, dismiss."
)
app.add_typer(suggestions_app, name="suggestions")


@suggestions_app.callback(invoke_without_command=True)
def suggestions_list(
    ctx: typer.Context,
    group: str | None = typer.Option(None, "--group", help="only this group id"),
    run: int | None = typer.Option(None, "--run", help="this analysis run (default: latest)"),
    status: str | None = typer.Option(None, help="open, accepted or dismissed"),
    as_json: bool = JSON_OUTPUT,
) -> None:
    """List a run's suggestions (default: the latest run)."""
    if ctx.invoked_subcommand is not None:
        return
    engine = database_or_exit(settings_or_exit())
    with engine.connect() as connection:
        rows = analysis.list_suggestions(connection, run_id=run, group_id=group, status=status)
    if as_json:
        emit_json([dataclasses.asdict(row) for row in rows])
        return
    table = listing(
        "id", "run", "group id", "group", "user id", "email", "domain", "evidence", "status"
    )
    for row in rows:
        table.add_row(
            str(row.id),
            str(row.run_id),
            row.group_id,
            row.group_name or "-",
            row.user_id,
            row.email or "-",
            row.email_domain or "-",
            row.evidence or "-",
            row.status,
        )
    console.print(table)


@suggestions_app.command("groups")
def suggestions_groups(
    run: int | None = typer.Option(None, "--run", help="this analysis run (default: latest)"),
) -> None:
    """Suggestion counts per group."""
    engine = database_or_exit(settings_or_exit())
    with engine.connect() as connection:
        counts = analysis.group_counts(connection, run)
    table = listing("group id", "open", "accepted", "dismissed")
    for group_id, by_status in sorted(counts.items(), key=lambda item: -sum(item[1].values())):
        table.add_row(
            group_id, *(str(by_status.get(s, 0)) for s in ("open", "accepted", "dismissed"))
        )
    console.print(table)


def _chosen_ids(
    connection: Connection, ids: list[int], group: str | None, every: bool, run: int | None
) -> list[int]:
    if every != (group is not None):
        fail("use --all together with --group")
    if group is not None:
        ids = [*ids, *analysis.open_ids(connection, group, run)]
    if not ids:
        fail("no suggestions chosen: give ids, or --group ID --all")
    return ids


def _print_decision(verb: str, decision: analysis.Decision) -> None:
    console.print(f"{verb}: {len(decision.done)}")
    if decision.already:
        console.print(f"already members: {', '.join(map(str, decision.already))}")
    if decision.not_open:
        console.print(f"not open (left as they are): {', '.join(map(str, decision.not_open))}")
    if decision.unknown:
        fail(f"unknown suggestion ids: {', '.join(map(str, decision.unknown))}")


IDS = typer.Argument(None, help="suggestion ids")
GROUP = typer.Option(None, "--group", help="with --all: every open one of it")
EVERY = typer.Option(False, "--all", help="every open suggestion of --group")
RUN = typer.Option(None, "--run", help="with --group: this run (default latest)")


def _decide(
    ids: list[int] | None,
    group: str | None,
    every: bool,
    run: int | None,
    decide: Callable[[Connection, list[int]], analysis.Decision],
    verb: str,
) -> None:
    engine = database_or_exit(settings_or_exit())
    with engine.begin() as connection:
        decision = decide(connection, _chosen_ids(connection, ids or [], group, every, run))
    _print_decision(verb, decision)


@suggestions_app.command("accept")
def suggestions_accept(
    ids: list[int] = IDS, group: str | None = GROUP, every: bool = EVERY, run: int | None = RUN
) -> None:
    """Accept suggestions: pending memberships that group_members_sync writes to Northpass."""

    def accept(connection: Connection, chosen: list[int]) -> analysis.Decision:
        return analysis.accept(connection, chosen, utcnow())

    _decide(ids, group, every, run, accept, "added as pending members")


@suggestions_app.command("dismiss")
def suggestions_dismiss(
    ids: list[int] = IDS, group: str | None = GROUP, every: bool = EVERY, run: int | None = RUN
) -> None:
    """Dismiss suggestions; later analyses do not suggest those users for those groups again."""
    _decide(ids, group, every, run, analysis.dismiss, "dismissed")


access_app = typer.Typer(no_args_is_help=True, help="Partner access in Northpass.")
app.add_typer(access_app, name="access")


@access_app.command("audit")
def access_audit_list(
    run: int | None = typer.Option(None, "--run", min=1, help="written by this run (sync_logs id)"),
    group: str | None = typer.Option(None, "--group", help="only this group id"),
    user: str | None = typer.Option(None, "--user", help="only this LMS user id"),
    partner: int | None = typer.Option(None, "--partner", min=1, help="only this partners.id"),
    action: str | None = typer.Option(None, "--action", help="add or remove"),
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = JSON_OUTPUT,
) -> None:
    """Membership writes to Northpass, newest first: who, what, why, when, the answer."""
    if action not in (None, "add", "remove"):
        fail(f"--action must be add or remove, not {action!r}")
    engine = database_or_exit(settings_or_exit())
    with engine.connect() as connection:
        rows, total = access_audit.entries(
            connection,
            run_id=run,
            group_id=group,
            user_id=user,
            partner_id=partner,
            action=cast(AccessAction | None, action),
            limit=limit,
        )
    if as_json:
        emit_json({"items": rows, "total": total})
        return
    console.print(access_table(rows))
    if total > len(rows):
        console.print(f"{len(rows)} of {total} shown (--limit)")


def access_table(rows: list[dict[str, Any]]) -> Table:
    table = listing(
        "id", "at (UTC)", "run", "action", "group", "person", "why", "outcome", "answer"
    )
    for row in rows:
        table.add_row(
            str(row["id"]),
            f"{row['at']:%Y-%m-%d %H:%M:%S}",
            str(row["run_id"] or "-"),
            row["action"],
            f"{row['group_name'] or '-'} ({row['group_id']})",
            f"{row['email'] or '-'} ({row['user_id']})",
            f"{row['cause']} by {row['decided_by']}: {row['reason']}",
            row["outcome"],
            row["answer"],
        )
    return table


def entry() -> None:
    """The console script: a database error no command foresaw is one line and exit 2 (the
    whole traceback only at PARTNERSYNC_LOG_LEVEL=DEBUG), never a screen of SQL."""
    try:
        app()
    except SQLAlchemyError as exc:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            raise
        err.print(
            Text(printable(f"{describe_database_error(exc)}; nothing more was done"), style="red"),
            soft_wrap=True,
        )
        sys.exit(EXIT_USAGE)
