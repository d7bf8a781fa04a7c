"""PostgreSQL settings from parts, as ECS passes them (DATABASE_HOST/PORT/NAME beside USER/PASSWORD)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from app.core.config import Settings
from tests.postgres_support import fresh_database
from tests.support import new_user, running_server


def test_the_url_is_built_from_parts_and_keeps_any_password_intact() -> None:
    password = "p@ss/w:rd?#%&="  # the characters a generated RDS password may contain that end a URL part
    settings = Settings(
        app_env="dev",
        database_host="db.example.internal",
        database_port=6543,
        database_name="ecs1",
        database_user="ecs1",
        database_password=password,
        database_sslmode="require",
    )
    url = make_url(settings.database_url)
    assert (url.drivername, url.host, url.port, url.database) == (
        "postgresql+psycopg",
        "db.example.internal",
        6543,
        "ecs1",
    )
    assert url.password == password and url.query == {"sslmode": "require"}


def test_parts_and_a_url_together_or_missing_parts_are_one_clear_error() -> None:
    with pytest.raises(ValidationError, match="set DATABASE_URL or DATABASE_HOST"):
        Settings(
            app_env="dev", database_url="sqlite+aiosqlite:///x.db", database_host="db", database_name="d"
        )
    with pytest.raises(ValidationError, match="DATABASE_HOST is set without DATABASE_NAME and DATABASE_USER"):
        Settings(app_env="dev", database_host="db")


@pytest.mark.slow
def test_the_start_command_serves_from_parts(tmp_path: Path) -> None:
    with fresh_database() as url:
        parts = make_url(url)
        env = {
            "DATABASE_URL": "",
            "DATABASE_HOST": parts.host or "127.0.0.1",
            "DATABASE_PORT": str(parts.port or 5432),
            "DATABASE_NAME": parts.database or "",
            "DATABASE_USER": parts.username or "",
            "DATABASE_PASSWORD": parts.password or "unused-with-trust-authentication",
        }
        with running_server(tmp_path, **env) as server, httpx.Client(base_url=server.base_url) as client:
            assert client.get("/health").json()["status"] == "ok"
            user, _ = new_user(client, "parts")
            assert user["id"] >= 1
        assert not (tmp_path / "app.db").exists(), "nothing was written to a SQLite file"


@pytest.mark.parametrize("mode", ["postgres from parts", "sqlite from DATABASE_URL"])
def test_a_restore_at_start_follows_the_apps_own_database_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The restore step reads which database the app runs on from the app's settings, parts included: a
    PostgreSQL task never touches an SQLite file, even with a restore request lying beside the default one."""
    from app.server import _restore_if_requested

    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "DATABASE_HOST", "BACKUP_BUCKET", "BACKUP_DIR"):
        monkeypatch.delenv(name, raising=False)
    default = tmp_path / "data" / "app.db"  # where an SQLite app keeps its file by default
    request = tmp_path / "data" / "backups" / "restore-request.json"
    request.parent.mkdir(parents=True)
    request.write_text('{"key": "daily/20300101T000000.000000Z.sqlite3"}')
    if mode == "postgres from parts":
        for name, value in {"HOST": "db.internal", "NAME": "app", "USER": "app", "PASSWORD": "pw"}.items():
            monkeypatch.setenv(f"DATABASE_{name}", value)
        _restore_if_requested()
        assert request.exists() and not default.parent.joinpath("backups", "daily").exists()
        assert sorted(p.name for p in default.parent.iterdir()) == ["backups"], "no SQLite file touched"
    else:
        monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{default}")
        _restore_if_requested()  # the snapshot is missing: refused, the request is used up
        assert not request.exists()
