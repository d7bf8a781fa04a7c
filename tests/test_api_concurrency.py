"""32 concurrent clients writing locations against the real server: no 5xx, no lost acknowledged write."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.support import new_user, running_server

pytestmark = pytest.mark.slow  # see conftest.py

CLIENTS = 32
SECONDS = 3.0
MAX_WRITES_PER_CLIENT = 400


async def writer(base_url: str, headers: dict[str, str], index: int) -> tuple[list[int], list[int]]:
    acknowledged: list[int] = []
    failures: list[int] = []
    deadline = time.monotonic() + SECONDS
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        for n in range(MAX_WRITES_PER_CLIENT):
            if time.monotonic() > deadline:
                break
            body = {"lat": round((index * 7 + n) % 180 - 89.5, 6), "lng": round(n % 360 - 179.5, 6)}
            response = await client.post("/location/update", json=body)
            if response.status_code == 201:
                acknowledged.append(response.json()["location_id"])
            else:
                failures.append(response.status_code)
    return acknowledged, failures


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        with httpx.Client(base_url=server.base_url) as client:
            users = [new_user(client, f"writer{i}") for i in range(CLIENTS)]

        async def run_all() -> list[tuple[list[int], list[int]]]:
            return await asyncio.gather(*(writer(server.base_url, h, i) for i, (_, h) in enumerate(users)))

        results = asyncio.run(run_all())
        server.stop()  # a graceful shutdown, so the count below sees a closed database
    acknowledged = {location_id for acked, _ in results for location_id in acked}
    failures = [status for _, failed in results for status in failed]
    assert failures == [], f"non-201 answers: {sorted(set(failures))}"
    assert len(acknowledged) >= CLIENTS, "every client got at least one write through"
    with closing(sqlite3.connect(server.database)) as db:
        stored = {row[0] for row in db.execute("SELECT id FROM locations")}
        per_user = dict(db.execute("SELECT user_id, count(*) FROM locations GROUP BY user_id").fetchall())
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged writes are missing"
    assert len(stored) == len(acknowledged), "nothing was stored that was not acknowledged"
    assert set(per_user) == {user["id"] for user, _ in users}
