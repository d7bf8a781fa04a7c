"""`invoke migrate-data`: a SQLite database the real app wrote, copied into a fresh PostgreSQL database.

The copy keeps every id and value, the app then runs on the copy (old passwords log in, new ids continue
above the copied ones), and a second copy into the now non-empty database is refused with one line.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.core.database_url import sync_url
from tests.postgres_support import fresh_database
from tests.support import PROJECT_ROOT, bearer, login, new_user, running_server, sqlite_url

pytestmark = pytest.mark.slow  # see conftest.py

KEYS = {"users": "id", "locations": "id", "location_shares": "owner_id, viewer_id"}


def rows(url: str, table: str) -> list[dict]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SET TIME ZONE 'UTC'"))
            query = text(f"SELECT * FROM {table} ORDER BY {KEYS[table]}")  # noqa: S608 (the test's own names)
            return [dict(row._mapping) for row in connection.execute(query)]
    finally:
        engine.dispose()


def without_time(row: dict) -> dict:
    return {column: value for column, value in row.items() if column != "created_at"}


def migrate_data(source: str, target: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "invoke", "migrate-data", "--source", source, "--target", target]
    return subprocess.run([*command, "--batch", "2"], cwd=PROJECT_ROOT, capture_output=True, text=True)


def test_a_sqlite_database_moves_to_postgres_whole(tmp_path: Path) -> None:
    with running_server(tmp_path) as server, httpx.Client(base_url=server.base_url) as client:
        users = [new_user(client, "mover") for _ in range(3)]
        for index, (_, headers) in enumerate(users):
            for n in range(index + 2):
                client.post("/location/update", json={"lat": n, "lng": index}, headers=headers)
        gone = users.pop(0)[0]  # a gap in the ids, which the copy must keep
        admin = bearer(login(client, "root-admin", "root-admin-password").json()["access_token"])
        assert client.delete(f"/users/delete/{gone['user_name']}", headers=admin).status_code == 204
        (owner, owner_headers), (viewer, _) = users
        shared = client.put(f"/location/shared_with/{viewer['user_name']}", headers=owner_headers)
        assert shared.status_code == 200
    source = sqlite_url(server.database)

    with fresh_database() as target:
        copied = migrate_data(source, target)
        assert copied.returncode == 0, copied.stdout + copied.stderr
        last_line = copied.stdout.strip().splitlines()[-1]
        assert last_line.startswith("copied ") and last_line.endswith("rows, counts verified")
        for counted in ("users 3", "location_shares 1", "locations 7"):
            assert f" {counted}," in last_line or f" {counted} rows" in last_line, last_line
        assert "locations: 2 / 7 rows" in copied.stdout, "progress per batch"
        for table in KEYS:
            before, after = rows(source, table), rows(target, table)
            assert [without_time(row) for row in after] == [without_time(row) for row in before], table
            # SQLite keeps created_at as UTC text; PostgreSQL as a point in time, read here in UTC.
            times = [row["created_at"].replace(tzinfo=None).isoformat(sep=" ") for row in after]
            assert times == [row["created_at"] for row in before], f"{table}: same times"

        with running_server(tmp_path, target) as moved, httpx.Client(base_url=moved.base_url) as client:
            token = login(client, viewer["user_name"])
            assert token.status_code == 200, "a password set before the move still logs in"
            headers = bearer(token.json()["access_token"])
            written = client.post("/location/update", json={"lat": 9, "lng": 9}, headers=headers)
            assert written.status_code == 201
            assert written.json()["location_id"] > max(row["id"] for row in rows(source, "locations"))
            seen = client.post("/location/get_locations", json={"ids": [owner["id"]]}, headers=headers)
            assert seen.status_code == 200 and len(seen.json()) == 1, "the share moved with the data"
            newcomer, _ = new_user(client, "after-move")
            assert newcomer["id"] > max(row["id"] for row in rows(source, "users"))

        again = migrate_data(source, target)
        assert again.returncode != 0
        assert again.stderr.strip().count("\n") == 0 and "Traceback" not in again.stderr
        assert "is not empty" in again.stderr and re.search(r"\(\w+ has [0-9,]+ rows\)", again.stderr)
