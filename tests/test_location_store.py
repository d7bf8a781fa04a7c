"""The coalesced location store on a real migrated SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from app.core.config import Settings
from app.core.db import create_engine
from app.location_store import LocationStore, NewLocation, StoredLocation, UserGone
from app.migrate import upgrade
from app.models import User
from tests.support import sqlite_url


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path / "app.db")
    upgrade(url)  # Alembic runs its own event loop, so not inside the async fixture
    return url


@pytest.fixture(params=[True, False], ids=["direct-driver", "sqlalchemy"])
async def store(database_url: str, request: pytest.FixtureRequest):
    url = database_url
    engine = create_engine(Settings(app_env="test", database_url=url, jwt_secret_key="k" * 40))
    async with engine.begin() as connection:
        for name in ("live", "gone"):
            await connection.execute(insert(User).values(user_name=name, password_hash="x", role="user"))
    yield engine, LocationStore(engine, direct_driver=request.param)
    await engine.dispose()


async def test_concurrent_writes_share_a_batch_and_a_deleted_user_fails_alone(store) -> None:
    engine, locations = store
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM users WHERE user_name = 'gone'"))
    writes = [NewLocation(user_id=1 if i % 3 else 2, lat=i, lng=-i) for i in range(30)]
    results = await asyncio.gather(*(locations.add(w) for w in writes), return_exceptions=True)
    gone = [r for r in results if isinstance(r, UserGone)]
    stored = [r for r in results if isinstance(r, StoredLocation)]
    assert len(gone) == 10 and len(stored) == 20
    assert len({s.location_id for s in stored}) == 20
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT id, user_id, lat FROM locations ORDER BY id"))).all()
    assert [row.id for row in rows] == sorted(s.location_id for s in stored)
    assert {row.user_id for row in rows} == {1}
    by_id = {row.id: row.lat for row in rows}
    for write, result in zip(writes, results, strict=True):
        if isinstance(result, StoredLocation):
            assert by_id[result.location_id] == write.lat, "each caller gets the id of its own row"


async def test_latest_answers_each_caller_with_its_own_users(store) -> None:
    _, locations = store
    for lat in (1.0, 2.0, 3.0):
        await locations.add(NewLocation(user_id=1, lat=lat, lng=0))
    await locations.add(NewLocation(user_id=2, lat=9.0, lng=0))
    one, two, both, none = await asyncio.gather(
        locations.latest(frozenset({1})),
        locations.latest(frozenset({2})),
        locations.latest(frozenset({1, 2, 99})),
        locations.latest(frozenset({99})),
    )
    assert [(r.id, r.lat) for r in one] == [(1, 3.0)]
    assert [(r.id, r.lat) for r in two] == [(2, 9.0)]
    assert [(r.id, r.lat) for r in both] == [(1, 3.0), (2, 9.0)]
    assert none == []
