"""The real Alembic migrations on a real SQLite file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from app.migrate import current, migrate_to
from tests.support import PROJECT_ROOT, sqlite_url


def tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        return {name for (name,) in rows}


def indexes(path: Path, table: str) -> set[str]:
    with closing(sqlite3.connect(path)) as db:
        return {row[1] for row in db.execute(f"PRAGMA index_list({table})")}


def test_upgrade_downgrade_upgrade(tmp_path: Path) -> None:
    database = tmp_path / "app.db"
    url = sqlite_url(database)
    assert current(url) is None
    assert migrate_to(url, "head") == (None, "0001")
    assert tables(database) == {"alembic_version", "users", "locations"}
    assert "ix_locations_user_id_id" in indexes(database, "locations")
    assert migrate_to(url, "base") == ("0001", None)
    assert tables(database) == {"alembic_version"}
    assert migrate_to(url, "head") == (None, "0001")
    assert tables(database) == {"alembic_version", "users", "locations"}


def test_models_and_migrations_do_not_drift(tmp_path: Path) -> None:
    """`alembic check` compares the models with the migrated schema and fails on any difference."""
    env = {"DATABASE_URL": sqlite_url(tmp_path / "app.db"), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "alembic"]
    subprocess.run([*run, "upgrade", "head"], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    check = subprocess.run([*run, "check"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr


def test_invoke_migrate_goes_up_and_down(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "app.db")
    invoke = [sys.executable, "-m", "invoke", "migrate", "--database-url", url]
    up = subprocess.run(invoke, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert up.returncode == 0 and "at revision 0001 (was base)" in up.stdout, up.stdout + up.stderr
    down = subprocess.run([*invoke, "--revision", "-1"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert down.returncode == 0 and "at revision base (was 0001)" in down.stdout
    bad = subprocess.run([*invoke, "--revision", "nope"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert bad.returncode != 0
    assert "error: migration to 'nope' failed" in bad.stderr and "Traceback" not in bad.stderr


def test_postgres_upgrade_downgrade_and_no_drift() -> None:
    """The same migrations on a real PostgreSQL database: up, down, up, and `alembic check` finds no drift."""
    from sqlalchemy import create_engine, inspect

    from app.core.database_url import sync_url
    from tests.postgres_support import fresh_database

    with fresh_database() as url:
        assert migrate_to(url, "head") == (None, "0001")
        assert migrate_to(url, "base") == ("0001", None)
        assert migrate_to(url, "head") == (None, "0001")
        engine = create_engine(sync_url(url))
        try:
            schema = inspect(engine)
            assert set(schema.get_table_names()) == {"alembic_version", "users", "locations"}
            assert "ix_locations_user_id_id" in {ix["name"] for ix in schema.get_indexes("locations")}
        finally:
            engine.dispose()
        env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
        check = subprocess.run(
            [sys.executable, "-m", "alembic", "check"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stdout + check.stderr
