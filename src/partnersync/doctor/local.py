"""The doctor's checks of what is on this side: the settings and the database."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from partnersync.config import ConfigError, Settings, load_settings, unknown_variables
from partnersync.db.access import DatabaseUnusable, current_schema_problem, open_database
from partnersync.db.engine import describe_database_error, is_mariadb
from partnersync.doctor.report import Checklist, Status
from partnersync.tasks.registry import ON_DEMAND, TASKS

SYNC_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
MIGRATE_PRIVILEGES = frozenset({"CREATE", "ALTER", "INDEX", "DROP", "REFERENCES"})
GRANT = re.compile(r"^GRANT (?P<privileges>.+?) ON (?P<scope>\S+) TO ", re.IGNORECASE)


def configuration(environ: Mapping[str, str]) -> tuple[Settings | None, Checklist]:
    """The settings (None when invalid) and the checks of them: valid, no unknown variables,
    the secrets each command needs present (their values never shown)."""
    checks = Checklist()
    try:
        settings = load_settings()
    except ConfigError as exc:
        checks.add("config.settings", "fail", str(exc), "correct the variable named above")
        return None, checks
    checks.add(
        "config.settings", "ok", f"every setting is valid; database {settings.database_url_masked}"
    )
    unknown = unknown_variables(environ)
    if unknown:
        detail = "; ".join(warning.removeprefix("warning: ") for warning in unknown)
        checks.add("config.unknown_variables", "warn", detail, "rename or remove them")
    else:
        checks.add(
            "config.unknown_variables",
            "ok",
            "no unknown PARTNERSYNC_, NORTHPASS_ or IMPARTNER_ variable",
        )
    _secret(checks, "NORTHPASS_API_KEY", settings.northpass_api_key, "fail", "every Northpass task")
    _secret(
        checks,
        "IMPARTNER_API_KEY",
        settings.impartner_api_key,
        "fail",
        ", ".join(_tasks_needing("IMPARTNER_API_KEY")),
    )
    _secret(
        checks,
        "PARTNERSYNC_API_TOKEN",
        settings.api_token,
        "warn",
        "`partnersync serve`",
        "`partnersync token` prints a new one",
    )
    return settings, checks


def _tasks_needing(variable: str) -> list[str]:
    return [task.name for task in (*TASKS, *ON_DEMAND.values()) if variable in task.needs]


def _secret(
    checks: Checklist,
    variable: str,
    value: SecretStr | None,
    missing: Status,
    needed_by: str,
    fix: str | None = None,
) -> None:
    name = f"config.{variable.lower()}"
    if value is not None and value.get_secret_value():
        checks.add(name, "ok", f"{variable} is set (its value is never shown)")
    else:
        checks.add(
            name,
            missing,
            f"{variable} is not set: {needed_by} cannot run",
            fix or f"set {variable}",
        )


def database(settings: Settings) -> Checklist:
    """Reachable, the privileges the sync and `migrate` need, the schema at this version."""
    checks = Checklist()
    try:
        engine = open_database(settings.database_url)
    except DatabaseUnusable as exc:
        checks.add(
            "database.reachable",
            "fail",
            str(exc),
            "see the message; then run `partnersync doctor` again",
        )
        checks.skip_rest(
            ["database.privileges", "database.schema"], "the database is not reachable"
        )
        return checks
    try:
        with engine.connect() as connection:
            version = server_version(connection)
            checks.add(
                "database.reachable", "ok", f"{settings.database_url_masked} answers ({version})"
            )
            _privileges(checks, engine, connection)
    except SQLAlchemyError as exc:
        checks.add(
            "database.privileges",
            "fail",
            describe_database_error(exc),
            "check the account's grants",
        )
    problem = current_schema_problem(engine)
    if problem:
        checks.add(
            "database.schema",
            "fail",
            problem,
            "run `partnersync migrate`" if "migrate" in problem else None,
        )
    else:
        checks.add("database.schema", "ok", "the schema is at this version's revision")
    engine.dispose()
    return checks


def server_version(connection: Connection) -> str:
    if is_mariadb(connection.dialect.name):
        return f"MariaDB {connection.scalar(text('SELECT VERSION()'))}"
    return f"SQLite {connection.scalar(text('SELECT sqlite_version()'))}"


def _privileges(checks: Checklist, engine: Engine, connection: Connection) -> None:
    if is_mariadb(connection.dialect.name):
        grants = list(connection.scalars(text("SHOW GRANTS FOR CURRENT_USER()")))
        held = granted(grants, str(connection.scalar(text("SELECT DATABASE()"))))
        where = "the account"
    else:
        held = sqlite_privileges(engine.url.database)
        where = "the file"
    missing_sync = sorted(SYNC_PRIVILEGES - held)
    missing_migrate = sorted(MIGRATE_PRIVILEGES - held)
    if missing_sync:
        checks.add(
            "database.privileges",
            "fail",
            f"{where} lacks {', '.join(missing_sync)}: syncs cannot write",
            "grant SELECT, INSERT, UPDATE, DELETE on the database "
            "(and CREATE, ALTER, INDEX, DROP, REFERENCES for `migrate`)",
        )
    elif missing_migrate:
        checks.add(
            "database.privileges",
            "warn",
            f"{where} may sync but lacks {', '.join(missing_migrate)}, "
            "which `partnersync migrate` needs",
            "grant them before upgrading partnersync",
        )
    else:
        checks.add("database.privileges", "ok", f"{where} may read, write and migrate")


def granted(grants: list[str], database: str) -> set[str]:
    """The privileges `SHOW GRANTS` lines give on `database` (global or that schema's)."""
    held: set[str] = set()
    for line in grants:
        match = GRANT.match(line)
        if not match:
            continue
        scope = match["scope"].replace("`", "").replace("\\", "")
        if scope not in ("*.*", f"{database}.*"):
            continue
        privileges = {p.strip().upper() for p in match["privileges"].split(",")}
        if "ALL PRIVILEGES" in privileges or "ALL" in privileges:
            return set(SYNC_PRIVILEGES | MIGRATE_PRIVILEGES)
        held |= privileges
    return held


def sqlite_privileges(file: str | None) -> set[str]:
    """SQLite has no accounts: the file (and its folder, for the journal) must be writable."""
    if file in (None, "", ":memory:"):
        return set(SYNC_PRIVILEGES | MIGRATE_PRIVILEGES)
    path = Path(str(file)).resolve()
    if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
        return set(SYNC_PRIVILEGES | MIGRATE_PRIVILEGES)
    return {"SELECT"} if os.access(path, os.R_OK) else set()
