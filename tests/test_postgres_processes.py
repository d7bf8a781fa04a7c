"""Several server processes on one PostgreSQL database, as the PostgreSQL mode runs several ECS tasks.

Each process is the container's start command; what one of them does must hold on the others at once:
no per-process state may make an account, a deletion or a token's fate late on another task.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from app.core.database_url import sync_url
from tests.postgres_support import fresh_database
from tests.support import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    Server,
    bearer,
    login,
    signup,
    start_server,
    unique_name,
    wait_healthy,
)

pytestmark = pytest.mark.slow  # see conftest.py

TASKS = 4


@contextmanager
def servers_on_one_database(tmp_path: Path, url: str, count: int, **env: str) -> Iterator[list[Server]]:
    """`count` server processes started at the same moment on one database, all healthy, stopped after."""
    # One JWT key for all, as the tasks of one deployment share theirs.
    key = {"JWT_SECRET_KEY": "k" * 48}
    servers = [start_server(tmp_path, url, **key, **env) for _ in range(count)]
    try:
        for server in servers:
            wait_healthy(server, seconds=60)
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def test_tasks_starting_at_once_on_an_empty_database_migrate_it_exactly_once(
    tmp_path: Path, database_url: str
) -> None:
    with servers_on_one_database(tmp_path, database_url, TASKS, LOG_LEVEL="info") as servers:
        for server in servers:
            assert httpx.get(f"{server.base_url}/health").json()["status"] == "ok"
        logs = [server.log.read_text() for server in servers]
    migrated = [log for log in logs if re.search(r"Running upgrade\s+->", log)]
    assert len(migrated) == 1, "exactly one task applies the migrations; the others find them applied"
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            admins = connection.execute(text("SELECT count(*) FROM users WHERE role = 'admin'")).scalar()
    finally:
        engine.dispose()
    from alembic.script import ScriptDirectory

    from app.migrate import alembic_config

    assert versions == [ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()]
    assert admins == 1, "the bootstrap admin is created once, whichever task gets there first"


def test_what_one_task_does_holds_at_once_on_the_other(tmp_path: Path, database_url: str) -> None:
    with (
        servers_on_one_database(tmp_path, database_url, 2) as (one, other),
        httpx.Client(base_url=one.base_url) as a,
        httpx.Client(base_url=other.base_url) as b,
    ):
        name = unique_name()
        created = signup(a, name)
        assert created.status_code == 201
        assert signup(b, name).status_code == 409, "the name is taken on every task"
        token = login(b, name)
        assert token.status_code == 200, "signed up on one task, logged in on the other"
        headers = bearer(token.json()["access_token"])
        written = a.post("/location/update", json={"lat": 1.5, "lng": 2.5}, headers=headers)
        assert written.status_code == 201
        seen = b.post("/location/get_locations", json={"ids": [created.json()["id"]]}, headers=headers)
        assert [row["location_id"] for row in seen.json()] == [written.json()["location_id"]]

        admin = bearer(login(a, ADMIN_NAME, ADMIN_PASSWORD).json()["access_token"])
        assert b.get("/auth/check_token", headers=headers).status_code == 200
        assert a.delete(f"/users/delete/{name}", headers=admin).status_code == 204
        assert b.get("/auth/check_token", headers=headers).status_code == 401, "deleted on one, dead on both"
        assert b.post("/location/update", json={"lat": 1, "lng": 1}, headers=headers).status_code == 401
        assert login(b, name).status_code == 401


def test_a_password_changed_on_one_task_revokes_the_old_token_on_the_other(
    tmp_path: Path, database_url: str
) -> None:
    with (
        servers_on_one_database(tmp_path, database_url, 2) as (one, other),
        httpx.Client(base_url=one.base_url) as a,
        httpx.Client(base_url=other.base_url) as b,
    ):
        name = unique_name()
        assert signup(a, name).status_code == 201
        old = bearer(login(a, name).json()["access_token"])
        assert b.get("/auth/check_token", headers=old).status_code == 200
        assert a.put("/users/update", json={"password": "changed-on-one"}, headers=old).status_code == 204
        assert b.get("/auth/check_token", headers=old).status_code == 401, "revoked on the other task at once"
        assert b.post("/location/update", json={"lat": 1, "lng": 1}, headers=old).status_code == 401
        assert login(b, name).status_code == 401, "the old password is refused on the other task too"
        new = bearer(login(b, name, "changed-on-one").json()["access_token"])
        assert a.get("/auth/check_token", headers=new).status_code == 200


def test_login_and_sign_up_throttling_counts_across_tasks(tmp_path: Path, database_url: str) -> None:
    """A guesser spreading attempts over the tasks (as the gateway does) meets one count, not one per task."""
    free = 3
    limits = {
        "LOGIN_FREE_FAILURES_PER_ACCOUNT_CLIENT": str(free),
        "LOGIN_BACKOFF_SECONDS": "600",
        "SIGNUP_FREE_PER_CLIENT": "2",
    }
    with servers_on_one_database(tmp_path, database_url, 2, **limits) as servers:
        clients = [httpx.Client(base_url=server.base_url) for server in servers]
        try:
            name = unique_name()
            assert signup(clients[0], name, "the-right-password").status_code == 201
            statuses = [login(clients[i % 2], name, "a-wrong-password").status_code for i in range(10)]
            assert statuses[: free + 1] == [401] * (free + 1), statuses
            assert set(statuses[free + 1 :]) == {429}, statuses
            for client in clients:
                refused = login(client, name, "the-right-password")
                assert refused.status_code == 429, "blocked on every task, whichever counted the failures"
                assert 0 < int(refused.headers["Retry-After"]) <= 600
            # Two free and the one that starts the first wait, as on one task: one was spent above, so two
            # more pass, alternating tasks, then both refuse (counted per task, all six would pass).
            sign_ups = [signup(clients[i % 2], unique_name()).status_code for i in range(6)]
            assert sign_ups == [201, 201, 429, 429, 429, 429], sign_ups
        finally:
            for client in clients:
                client.close()
