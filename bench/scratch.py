"""A scratch MariaDB database for one benchmark: dropped and made again, empty."""

from __future__ import annotations

from sqlalchemy import create_engine, make_url, text


def empty_mariadb_database(server_url: str, name: str) -> str:
    """Drop and create `name` on the server of `server_url`; its URL, password included."""
    server = make_url(server_url)
    admin = create_engine(server)
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        connection.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)
