"""Apply Alembic migrations from code (used by `invoke migrate` and the container's start command).

On PostgreSQL several tasks start at once against one database, and each start command migrates: a
session-level advisory lock makes them take turns, so the first applies the migrations and the others find
the schema at head and apply nothing. The lock belongs to a connection, so a task that dies while migrating
releases it. SQLite needs no lock: its mode is one task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config

from app.core.database_url import is_postgres, sync_url

# pg_advisory_lock takes one bigint shared by every process of the deployment: derive it from a fixed name.
MIGRATION_LOCK_ID = int.from_bytes(hashlib.sha256(b"ecs1 migrations").digest()[:8], "big", signed=True)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = PROJECT_ROOT / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


@contextmanager
def migration_lock(database_url: str) -> Iterator[None]:
    """Hold the deployment's migration lock (PostgreSQL) while the body runs; waits for another holder."""
    if not is_postgres(database_url):
        yield
        return
    from sqlalchemy import create_engine, pool, text

    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
    finally:
        engine.dispose()


def upgrade(database_url: str, revision: str = "head") -> None:
    with migration_lock(database_url):
        command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    with migration_lock(database_url):
        command.downgrade(alembic_config(database_url), revision)


def migrate_to(database_url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade or downgrade to `revision` (an id, 'head', 'base', '+N' or '-N'); return (before, after)."""
    before = current(database_url)
    if _is_downgrade(database_url, before, revision):
        downgrade(database_url, revision)
    else:
        upgrade(database_url, revision)
    return before, current(database_url)


def is_downgrade(database_url: str, revision: str) -> bool:
    """True when migrating to `revision` goes down from the database's current revision (and drops data)."""
    before = current(database_url)
    return before is not None and _is_downgrade(database_url, before, revision)


def _is_downgrade(database_url: str, before: str | None, revision: str) -> bool:
    if revision == "base" or revision.startswith("-"):
        return True
    if before is None or revision == "head" or revision.startswith("+"):
        return False
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config(database_url))
    target = scripts.get_revision(revision)
    if target is None or target.revision == before:
        return False
    # The target is older when walking down from the current revision reaches it.
    return any(r.revision == target.revision for r in scripts.walk_revisions(base="base", head=before))


def current(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    url = sync_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return None
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
