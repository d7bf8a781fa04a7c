"""RDS rotates the managed master password; running tasks must keep working (app/core/database_secret.py).

Real parts: a real PostgreSQL server that refuses the old login, the real server process, moto's Secrets
Manager over HTTP holding the secret. This server authenticates by trust, so a rotated password cannot be
refused here; the rotation is played with the user name instead (the secret moves to a new role, the old role
loses its login), which the server refuses with the same SQLSTATE class (28) as a wrong password.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.core.database_url import sync_url
from tests.lifecycle_support import CREDENTIALS, REGION, moto_server
from tests.postgres_support import ADMIN_URL, fresh_database
from tests.support import login, new_user, running_server

pytestmark = pytest.mark.slow  # see conftest.py

OLD_PASSWORD = "unused-with-trust-authentication"


def admin(url: str, *statements: str, **parameters: str) -> list:
    """Run the statements as the server's superuser; return the last one's rows, if it has any."""
    engine = create_engine(sync_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            results = [connection.execute(text(statement), parameters) for statement in statements]
            return results[-1].all() if results[-1].returns_rows else []
    finally:
        engine.dispose()


@pytest.fixture
def database_and_roles() -> Iterator[tuple[str, str, str]]:
    old, new = f"ecs1_old_{uuid.uuid4().hex[:8]}", f"ecs1_new_{uuid.uuid4().hex[:8]}"
    try:
        with fresh_database() as url:
            name = make_url(url).database
            admin(url, f'CREATE ROLE "{old}" LOGIN', f'ALTER DATABASE "{name}" OWNER TO "{old}"')
            yield url, old, new
    finally:
        admin(ADMIN_URL, f'DROP ROLE IF EXISTS "{new}"', f'DROP ROLE IF EXISTS "{old}"')


def test_a_rotated_secret_is_read_again_when_the_server_refuses_the_old_login(
    tmp_path: Path, database_and_roles: tuple[str, str, str]
) -> None:
    url, old, new = database_and_roles
    parts = make_url(url)
    with moto_server() as endpoint:
        secrets = boto3.client(
            "secretsmanager",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        arn = secrets.create_secret(
            Name="rds!db-test", SecretString=json.dumps({"username": old, "password": OLD_PASSWORD})
        )["ARN"]
        env = {
            "DATABASE_URL": "",
            "DATABASE_HOST": parts.host or "127.0.0.1",
            "DATABASE_PORT": str(parts.port or 5432),
            "DATABASE_NAME": parts.database or "",
            # What ECS injected when the task started.
            "DATABASE_USER": old,
            "DATABASE_PASSWORD": OLD_PASSWORD,
            "DATABASE_SECRET_ARN": arn,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": REGION,
            **CREDENTIALS,
        }
        with running_server(tmp_path, **env) as server, httpx.Client(base_url=server.base_url) as client:
            user, headers = new_user(client, "before")

            # The rotation: the secret names the new login, the old one stops working, and its connections go.
            admin(url, f'CREATE ROLE "{new}" LOGIN IN ROLE "{old}"')
            rotated = json.dumps({"username": new, "password": "rotated"})
            secrets.put_secret_value(SecretId=arn, SecretString=rotated)
            admin(
                url,
                f'ALTER ROLE "{old}" NOLOGIN',
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :old",
                old=old,
            )

            assert login(client, user["user_name"]).status_code == 200
            written = client.post("/location/update", json={"lat": 1, "lng": 2}, headers=headers)
            assert written.status_code == 201, written.text
            assert new_user(client, "after")[0]["id"] > user["id"]
            sessions = "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = :name"
            users = admin(url, sessions, name=parts.database or "")
            assert (new,) in users and (old,) not in users
