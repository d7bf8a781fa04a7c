"""The coalesced location store on a real migrated SQLite file: batches check every caller's token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from app.core.config import Settings
from app.core.db import create_engine
from app.core.tokens import TokenUser
from app.location_store import LocationStore, NewLocation, StoredLocation
from app.migrate import upgrade
from app.models import LocationShare, User
from app.user_store import TokenRevoked
from tests.support import sqlite_url

LIVE = TokenUser(id=1, user_name="live", role="user", expires_at=2**40, version=0)
GONE = TokenUser(id=2, user_name="gone", role="user", expires_at=2**40, version=0)
STALE = TokenUser(id=1, user_name="live", role="user", expires_at=2**40, version=-1)
ADMIN = TokenUser(id=3, user_name="boss", role="admin", expires_at=2**40, version=0)


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
        for token in (LIVE, GONE, ADMIN):
            await connection.execute(
                insert(User).values(user_name=token.user_name, password_hash="x", role=token.role)
            )
    yield engine, LocationStore(engine, direct_driver=request.param)
    await engine.dispose()


async def test_a_batch_stores_valid_tokens_writes_and_refuses_revoked_ones(store) -> None:
    engine, locations = store
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM users WHERE user_name = 'gone'"))
    authors = [LIVE, GONE, STALE]
    writes = [NewLocation(author=authors[i % 3], lat=i, lng=-i) for i in range(30)]
    results = await asyncio.gather(*(locations.add(w) for w in writes), return_exceptions=True)
    refused = [r for r in results if isinstance(r, TokenRevoked)]
    stored = [r for r in results if isinstance(r, StoredLocation)]
    assert len(refused) == 20 and len(stored) == 10
    assert len({s.location_id for s in stored}) == 10
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT id, user_id, lat FROM locations ORDER BY id"))).all()
    assert [row.id for row in rows] == sorted(s.location_id for s in stored)
    assert {row.user_id for row in rows} == {1}
    by_id = {row.id: row.lat for row in rows}
    for write, result in zip(writes, results, strict=True):
        assert isinstance(result, StoredLocation) == (write.author is LIVE)
        if isinstance(result, StoredLocation):
            assert by_id[result.location_id] == write.lat, "each caller gets the id of its own row"


async def test_latest_answers_each_caller_with_the_users_it_may_see(store) -> None:
    engine, locations = store
    for lat in (1.0, 2.0, 3.0):
        await locations.add(NewLocation(author=LIVE, lat=lat, lng=0))
    await locations.add(NewLocation(author=GONE, lat=9.0, lng=0))
    own, others, admin, stale = await asyncio.gather(
        locations.latest(LIVE, frozenset({1})),
        locations.latest(LIVE, frozenset({2, 3, 99})),
        locations.latest(ADMIN, frozenset({1, 2, 99})),
        locations.latest(STALE, frozenset({1})),
        return_exceptions=True,
    )
    assert [(r.id, r.lat) for r in own] == [(1, 3.0)]
    assert others == [], "nobody shares with 'live'"
    assert [(r.id, r.lat) for r in admin] == [(1, 3.0), (2, 9.0)]
    assert isinstance(stale, TokenRevoked)
    async with engine.begin() as connection:
        await connection.execute(insert(LocationShare).values(owner_id=2, viewer_id=1))
    shared, unshared = await asyncio.gather(
        locations.latest(LIVE, frozenset({1, 2})), locations.latest(GONE, frozenset({1, 2}))
    )
    assert [(r.id, r.lat) for r in shared] == [(1, 3.0), (2, 9.0)]
    assert [(r.id, r.lat) for r in unshared] == [(2, 9.0)], "sharing goes one way"
