"""The throttle's SQL on SQLite and on a real PostgreSQL (skipped when none answers on 127.0.0.1:5432), with
two engines standing in for two processes that share the database: the last free attempt is taken once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app.core.config import Settings
from app.core.db import create_engine as create_app_engine
from app.migrate import upgrade
from app.throttle import Throttle, Throttled
from tests.support import sqlite_url

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
FREE = 3


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "app.db")
        return
    name = f"throttle_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432: {exc.orig}")
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def settings_for(database_url: str) -> Settings:
    return Settings(
        app_env="test",
        jwt_secret_key="s" * 40,
        database_url=database_url,
        sqlite_journal="delete",  # two engines on one SQLite file, as two processes would share it
        login_free_failures_per_account_client=FREE,
        login_backoff_seconds=60,
    )


async def attempts(database_url: str, count: int) -> list[bool]:
    """`count` concurrent attempts for one account from one address, spread over two engines."""
    settings = settings_for(database_url)
    engines = [create_app_engine(settings), create_app_engine(settings)]
    throttles = [Throttle(engine, settings) for engine in engines]

    async def attempt(index: int) -> bool:
        try:
            await throttles[index % 2].begin_login("Mallory-Target", "203.0.113.9")
        except Throttled:
            return False
        return True

    # Each engine opens its one connection before the race: connecting sets the journal mode, which fails at
    # once ("database is locked") while the other engine writes. The race is about the counts.
    for engine in engines:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    try:
        return list(await asyncio.gather(*(attempt(i) for i in range(count))))
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.mark.slow
def test_concurrent_attempts_from_two_processes_take_the_free_ones_once(database_url: str) -> None:
    upgrade(database_url)
    passed = asyncio.run(attempts(database_url, 40))
    assert passed.count(True) == FREE + 1, passed


def test_a_success_resets_the_account_on_every_engine(database_url: str) -> None:
    upgrade(database_url)

    async def scenario() -> tuple[bool, bool]:
        settings = settings_for(database_url)
        first, second = create_app_engine(settings), create_app_engine(settings)
        try:
            one, other = Throttle(first, settings), Throttle(second, settings)
            for _ in range(FREE):
                await one.begin_login("owner", "198.51.100.7")
            await one.login_succeeded(await other.begin_login("OWNER", "198.51.100.7"))
            for _ in range(FREE + 1):
                await other.begin_login("owner", "198.51.100.7")
            try:
                await one.begin_login("owner", "198.51.100.7")
            except Throttled as exc:
                return True, exc.retry_after > 0
            return False, False
        finally:
            await first.dispose()
            await second.dispose()

    assert asyncio.run(scenario()) == (True, True)
