"""The real Alembic migrations on a real SQLite file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from app.migrate import alembic_config, current, migrate_to
from tests.support import PROJECT_ROOT, sqlite_url

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
TABLES = {"alembic_version", "users", "locations", "location_shares", "login_throttle", "storage_probe"}


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
    assert migrate_to(url, "head") == (None, HEAD)
    assert tables(database) >= TABLES
    assert "ix_locations_user_id_id" in indexes(database, "locations")
    assert "AUTOINCREMENT" in users_table_sql(database), "ids are never reused (see app/models.py)"
    assert migrate_to(url, "base") == (HEAD, None)
    assert tables(database) <= {"alembic_version", "sqlite_sequence"}
    assert migrate_to(url, "head") == (None, HEAD)
    assert tables(database) >= TABLES


@pytest.mark.slow
def test_models_and_migrations_do_not_drift(tmp_path: Path) -> None:
    """`alembic check` compares the models with the migrated schema and fails on any difference."""
    env = {"DATABASE_URL": sqlite_url(tmp_path / "app.db"), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "alembic"]
    subprocess.run([*run, "upgrade", "head"], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    check = subprocess.run([*run, "check"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr


@pytest.mark.slow
def test_invoke_migrate_goes_up_and_down(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "app.db")
    invoke = [sys.executable, "-m", "invoke", "migrate", "--database-url", url]
    up = subprocess.run(invoke, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert up.returncode == 0 and f"at revision {HEAD} (was base)" in up.stdout, up.stdout + up.stderr
    down = subprocess.run(
        [*invoke, "--revision", "base", "--yes"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert down.returncode == 0 and f"at revision base (was {HEAD})" in down.stdout
    bad = subprocess.run([*invoke, "--revision", "nope"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert bad.returncode != 0
    assert "error: migration to 'nope' failed" in bad.stderr and "Traceback" not in bad.stderr


def test_postgres_upgrade_downgrade_and_no_drift() -> None:
    """The same migrations on a real PostgreSQL database: up, down, up, and `alembic check` finds no drift."""
    from sqlalchemy import create_engine, inspect

    from app.core.database_url import sync_url
    from tests.postgres_support import fresh_database

    with fresh_database() as url:
        assert migrate_to(url, "head") == (None, HEAD)
        assert migrate_to(url, "base") == (HEAD, None)
        assert migrate_to(url, "head") == (None, HEAD)
        engine = create_engine(sync_url(url))
        try:
            schema = inspect(engine)
            assert set(schema.get_table_names()) == TABLES
            assert "ix_locations_user_id_id" in {ix["name"] for ix in schema.get_indexes("locations")}
            # Every id and every reference to one is BIGINT, like the ids the API accepts (app/models.py).
            id_columns = {
                (table, column["name"]): str(column["type"])
                for table in TABLES - {"alembic_version", "login_throttle"}
                for column in schema.get_columns(table)
                if column["name"] == "id" or column["name"].endswith("_id")
            }
            assert id_columns == dict.fromkeys(
                [
                    ("users", "id"),
                    ("locations", "id"),
                    ("locations", "user_id"),
                    ("location_shares", "owner_id"),
                    ("location_shares", "viewer_id"),
                    ("storage_probe", "id"),
                ],
                "BIGINT",
            )
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


def users_table_sql(path: Path) -> str:
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT sql FROM sqlite_master WHERE name = 'users'").fetchone()[0]


def test_0002_keeps_the_data_and_never_reuses_an_id(tmp_path: Path) -> None:
    """Upgrading a populated 0001 database: nothing lost (the users table is rebuilt with foreign keys on in
    the app), the newest id is not handed out again, and tokens get a version."""
    database = tmp_path / "app.db"
    url = sqlite_url(database)
    migrate_to(url, "0001")
    with closing(sqlite3.connect(database)) as db, db:
        db.executemany("INSERT INTO users (user_name, password_hash) VALUES (?, 'x')", [("ann",), ("bob",)])
        db.executemany("INSERT INTO locations (user_id, lat, lng) VALUES (?, 1, 2)", [(1,), (2,), (2,)])
    migrate_to(url, "0002")
    assert "AUTOINCREMENT" in users_table_sql(database)
    with closing(sqlite3.connect(database)) as db, db:
        assert db.execute("SELECT id, user_name, token_version FROM users").fetchall() == [
            (1, "ann", 0),
            (2, "bob", 0),
        ]
        assert db.execute("SELECT user_id FROM locations ORDER BY id").fetchall() == [(1,), (2,), (2,)]
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("DELETE FROM users WHERE id = 2")
        assert db.execute("SELECT count(*) FROM locations").fetchone() == (1,), "locations follow their user"
        db.execute("INSERT INTO users (user_name, password_hash) VALUES ('cat', 'x')")
        assert db.execute("SELECT id FROM users WHERE user_name = 'cat'").fetchone() == (3,)
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO users (user_name, password_hash) VALUES ('ANN', 'x')")
    migrate_to(url, "0001")
    assert "AUTOINCREMENT" not in users_table_sql(database)
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("SELECT id, user_name FROM users ORDER BY id").fetchall() == [
            (1, "ann"),
            (3, "cat"),
        ]


def test_0002_refuses_names_that_differ_only_in_case_with_one_clear_error(tmp_path: Path) -> None:
    database = tmp_path / "app.db"
    url = sqlite_url(database)
    migrate_to(url, "0001")
    with closing(sqlite3.connect(database)) as db, db:
        db.executemany("INSERT INTO users (user_name, password_hash) VALUES (?, 'x')", [("Ann",), ("ann",)])
    with pytest.raises(Exception, match=r"1 name\(s\) exist in several cases"):
        migrate_to(url, "0002")
    assert current(url) == "0001"
