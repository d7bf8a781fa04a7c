"""Database URLs: PostgreSQL's built from parts, and the synchronous twin of an async URL.

The PostgreSQL driver is psycopg 3 (the `postgres` extra): one package serves the app's async engine and the
synchronous tools (Alembic's revision check, the advisory lock around migrations, `invoke migrate-data`), and
it measured as fast as asyncpg for this API (README, "PostgreSQL mode").
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url

POSTGRES_DRIVER = "postgresql+psycopg"


def postgres_url_from_parts(
    *, host: str, port: int, name: str | None, user: str | None, password: str | None, sslmode: str
) -> str:
    missing = [env for env, value in (("DATABASE_NAME", name), ("DATABASE_USER", user)) if not value]
    if missing:
        raise ValueError(f"DATABASE_HOST is set without {' and '.join(missing)}: set them too")
    url = URL.create(
        POSTGRES_DRIVER, username=user, password=password, host=host, port=port, database=name
    ).update_query_dict({"sslmode": sslmode})
    # URL.create quotes any character of the generated password that would end a URL part.
    return url.render_as_string(hide_password=False)


def sqlite_path(database_url: str) -> Path | None:
    """The file an SQLite URL names; None for another database or an in-memory one."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def sync_url(database_url: str) -> URL:
    """The same database through a synchronous driver: pysqlite for SQLite, psycopg for PostgreSQL."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    return url.set(drivername=POSTGRES_DRIVER if backend == "postgresql" else backend)


def describe(database_url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(database_url).render_as_string(hide_password=True)
