"""`invoke migrate-data`: a SQLite database the real app wrote, copied into a fresh PostgreSQL database.

The copy keeps every id and value, the app then runs on the copy (old passwords log in, new ids continue
above the copied ones), and a second copy into the now non-empty database is refused with one line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from app.core.database_url import sync_url
from tests.postgres_support import fresh_database
from tests.support import PROJECT_ROOT, bearer, login, new_user, running_server, sqlite_url

ROWS = "SELECT * FROM {table} ORDER BY id"


def rows(url: str, table: str) -> list[tuple]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("SET TIME ZONE 'UTC'"))
            return [tuple(row) for row in connection.execute(text(ROWS.format(table=table)))]
    finally:
        engine.dispose()


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
    source = sqlite_url(server.database)

    with fresh_database() as target:
        copied = migrate_data(source, target)
        assert copied.returncode == 0, copied.stdout + copied.stderr
        last_line = copied.stdout.strip().splitlines()[-1]
        assert last_line.startswith("copied ") and "users 3, locations 7 rows, counts verified" in last_line
        assert "locations: 2 / 7 rows" in copied.stdout, "progress per batch"
        for table in ("users", "locations"):
            before, after = rows(source, table), rows(target, table)
            assert [row[:-1] for row in after] == [row[:-1] for row in before], f"{table}: same values"
            # SQLite keeps created_at as UTC text; PostgreSQL as a point in time, read here in UTC.
            times = [row[-1].replace(tzinfo=None).isoformat(sep=" ") for row in after]
            assert times == [row[-1] for row in before], f"{table}: same times"

        with running_server(tmp_path, target) as moved, httpx.Client(base_url=moved.base_url) as client:
            user, _ = users[-1]
            token = login(client, user["user_name"])
            assert token.status_code == 200, "a password set before the move still logs in"
            headers = bearer(token.json()["access_token"])
            written = client.post("/location/update", json={"lat": 9, "lng": 9}, headers=headers)
            assert written.status_code == 201
            assert written.json()["location_id"] > max(row[0] for row in rows(source, "locations"))
            newcomer, _ = new_user(client, "after-move")
            assert newcomer["id"] > max(row[0] for row in rows(source, "users"))

        again = migrate_data(source, target)
        assert again.returncode != 0
        assert again.stderr.strip().count("\n") == 0 and "Traceback" not in again.stderr
        assert "is not empty" in again.stderr and "users has" in again.stderr
