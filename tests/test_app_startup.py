"""Settings, the bootstrap admin and password storage, on a real migrated SQLite file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.core.config import Settings
from app.main import create_app
from app.migrate import upgrade
from tests.support import sqlite_url

SECRET = "s" * 40


def settings_for(database: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "app_env": "test",
        "database_url": sqlite_url(database),
        "jwt_secret_key": SECRET,
    }
    return Settings(**(values | overrides))


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    upgrade(sqlite_url(path))
    return path


def users(database: Path) -> list[tuple[str, str, str]]:
    with closing(sqlite3.connect(database)) as db:
        return db.execute("SELECT user_name, role, password_hash FROM users ORDER BY id").fetchall()


def test_the_jwt_key_is_required_outside_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="JWT_SECRET_KEY is not set"):
        Settings(app_env="prod", _env_file=None)
    with pytest.raises(ValidationError, match="too short"):
        Settings(app_env="prod", jwt_secret_key="short", _env_file=None)
    dev = Settings(app_env="dev", _env_file=None)
    assert len(dev.jwt_secret_key) >= 32, "dev gets a random per-process key"
    assert Settings(app_env="dev", _env_file=None).jwt_secret_key != dev.jwt_secret_key


def test_admin_settings_come_in_pairs() -> None:
    with pytest.raises(ValidationError, match="ADMIN_USERNAME and ADMIN_PASSWORD"):
        Settings(app_env="dev", admin_username="root", _env_file=None)


def test_bootstrap_admin_is_created_once(database: Path) -> None:
    settings = settings_for(database, admin_username="boss", admin_password="boss-password", bcrypt_rounds=4)
    for _ in range(3):
        with TestClient(create_app(settings)) as client:
            assert client.get("/health").status_code == 200
    rows = users(database)
    assert [(name, role) for name, role, _ in rows] == [("boss", "admin")]
    with TestClient(create_app(settings)) as client:
        token = client.post("/auth/token", data={"username": "boss", "password": "boss-password"})
        assert token.status_code == 200


def test_bootstrap_refuses_to_promote_an_existing_user(database: Path) -> None:
    with TestClient(create_app(settings_for(database, bcrypt_rounds=4))) as client:
        assert (
            client.post("/users/create_user", json={"user_name": "boss", "password": "x" * 8}).status_code
            == 201
        )
    settings = settings_for(database, admin_username="boss", admin_password="boss-password", bcrypt_rounds=4)
    with pytest.raises(Exception, match="belongs to a non-admin user"), TestClient(create_app(settings)):
        pass
    assert [(name, role) for name, role, _ in users(database)] == [("boss", "user")]


def test_every_password_gets_its_own_salt_at_the_configured_cost(database: Path) -> None:
    with TestClient(create_app(settings_for(database))) as client:
        for name in ("ann", "ben"):
            body = {"user_name": name, "password": "same-password"}
            assert client.post("/users/create_user", json=body).status_code == 201
    (_, _, first), (_, _, second) = users(database)
    assert first.startswith("$2b$10$") and second.startswith("$2b$10$"), "bcrypt cost 10 by default"
    assert first[7:29] != second[7:29], "different salts"
    assert "same-password" not in first + second


def test_the_sqlite_connection_uses_the_chosen_pragmas(database: Path) -> None:
    with TestClient(create_app(settings_for(database))) as client:
        engine = client.app.state.engine

        async def pragmas() -> tuple:
            async with engine.connect() as connection:
                rows = []
                for name in ("foreign_keys", "busy_timeout", "journal_mode", "locking_mode", "synchronous"):
                    rows.append((await connection.exec_driver_sql(f"PRAGMA {name}")).scalar())
                return tuple(rows)

        # synchronous 2 = FULL: every commit is fsynced before it is acknowledged.
        assert client.portal.call(pragmas) == (1, 5000, "wal", "exclusive", 2)


def test_health_is_503_when_the_database_is_unusable(tmp_path: Path) -> None:
    garbage = tmp_path / "app.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with TestClient(create_app(settings_for(garbage))) as client:
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert client.get("/").status_code == 200, "the process itself still answers"
