"""32 concurrent clients writing locations against the real server: no 5xx, no lost acknowledged write.

A fixed amount of work (every client writes WRITES_PER_CLIENT times, all at once), not a timed run: on a
loaded machine the test takes longer, and still checks the same 640 writes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.core.database_url import sync_url
from tests.postgres_support import fresh_database
from tests.support import new_user, running_server

pytestmark = pytest.mark.slow  # see conftest.py

CLIENTS = 32
WRITES_PER_CLIENT = 20


async def writer(base_url: str, headers: dict[str, str], index: int) -> tuple[list[int], list[int]]:
    acknowledged: list[int] = []
    failures: list[int] = []
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        for n in range(WRITES_PER_CLIENT):
            body = {"lat": round((index * 7 + n) % 180 - 89.5, 6), "lng": round(n % 360 - 179.5, 6)}
            response = await client.post("/location/update", json=body)
            if response.status_code == 201:
                acknowledged.append(response.json()["location_id"])
            else:
                failures.append(response.status_code)
    return acknowledged, failures


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with ExitStack() as stack:
        yield stack.enter_context(fresh_database()) if request.param == "postgres" else ""


def test_concurrent_writers_lose_nothing(tmp_path: Path, database_url: str) -> None:
    with running_server(tmp_path, database_url) as server:
        with httpx.Client(base_url=server.base_url) as client:
            users = [new_user(client, f"writer{i}") for i in range(CLIENTS)]

        async def run_all() -> list[tuple[list[int], list[int]]]:
            return await asyncio.gather(*(writer(server.base_url, h, i) for i, (_, h) in enumerate(users)))

        results = asyncio.run(run_all())
        server.stop()  # a graceful shutdown, so the count below sees a closed database
    acknowledged = {location_id for acked, _ in results for location_id in acked}
    failures = [status for _, failed in results for status in failed]
    assert failures == [], f"non-201 answers: {sorted(set(failures))}"
    assert len(acknowledged) == CLIENTS * WRITES_PER_CLIENT, "every write was acknowledged"
    engine = create_engine(sync_url(server.database_url))
    try:
        with engine.connect() as db:
            stored = set(db.execute(text("SELECT id FROM locations")).scalars())
            per_user = dict(
                db.execute(text("SELECT user_id, count(*) FROM locations GROUP BY user_id")).all()
            )
    finally:
        engine.dispose()
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged writes are missing"
    assert len(stored) == len(acknowledged), "nothing was stored that was not acknowledged"
    assert set(per_user) == {user["id"] for user, _ in users}
