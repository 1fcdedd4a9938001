"""Opening the configured database for a command: either a usable engine, or one line saying
what is wrong and what to do, never a screen of SQL or the password."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from partnersync.config import masked_url
from partnersync.db.engine import describe_database_error, make_engine
from partnersync.db.migrate import schema_problem


class DatabaseUnusable(Exception):
    """The database cannot be used; the message names the problem and the fix."""


def open_database(url: SecretStr, *, create: bool = False) -> Engine:
    """An engine whose database answers. A SQLite file that does not exist is created only with
    `create` (by `migrate`): a typo in the URL must not leave an empty database behind."""
    where = masked_url(url.get_secret_value())
    parsed = make_url(url.get_secret_value())
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if not create and file not in (None, "", ":memory:") and not Path(str(file)).exists():
        raise DatabaseUnusable(
            f"the database file {file} does not exist: run `partnersync migrate` "
            "(or check PARTNERSYNC_DATABASE_URL)"
        )
    try:
        engine = make_engine(url)
        with engine.connect():
            pass
    except ModuleNotFoundError as exc:
        raise DatabaseUnusable(
            f"the database driver {exc.name!r} is not installed: use a mysql+pymysql:// URL "
            "in PARTNERSYNC_DATABASE_URL"
        ) from None
    except SQLAlchemyError as exc:
        raise DatabaseUnusable(
            f"cannot use the database at {where}: {describe_database_error(exc)}; "
            "check PARTNERSYNC_DATABASE_URL"
        ) from None
    return engine


def current_schema_problem(engine: Engine) -> str | None:
    """`schema_problem`, as one line naming the database (a failing read is a problem too)."""
    where = masked_url(engine.url.render_as_string(hide_password=False))
    try:
        problem = schema_problem(engine)
    except SQLAlchemyError as exc:
        return f"cannot read the schema of the database at {where}: {describe_database_error(exc)}"
    return f"the database at {where} {problem}" if problem else None
