"""Apply Alembic migrations from code (used by `invoke migrate` and the container's start command)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = PROJECT_ROOT / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
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
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return None
    sync_url = url.set(drivername=url.get_backend_name())
    engine = create_engine(sync_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
