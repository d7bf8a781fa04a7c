"""A real PostgreSQL for the tests: a fresh database per use, dropped after; skip (or fail in CI) without one.

The server is ECS1_TEST_POSTGRES_URL (default: 127.0.0.1:5432, trust authentication, database `test`, as
on every machine of this project). Where none answers, the tests that need it skip with the reason; with
CI=true or ECS1_REQUIRE_POSTGRES=1 they fail instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pytest
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("ECS1_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TRUE = {"1", "true", "yes"}


def postgres_required() -> bool:
    return any(os.environ.get(name, "").lower() in TRUE for name in ("CI", "ECS1_REQUIRE_POSTGRES"))


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@cache
def unavailable_reason() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed: pip install -e '.[postgres]'"
    try:
        with psycopg.connect(_libpq(ADMIN_URL), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        first_line = next(iter(str(exc).splitlines()), type(exc).__name__)
        return f"no PostgreSQL at {make_url(ADMIN_URL).render_as_string()}: {first_line}"


def require_postgres() -> None:
    reason = unavailable_reason()
    if reason is None:
        return
    if postgres_required():
        pytest.fail(f"{reason} (CI / ECS1_REQUIRE_POSTGRES=1 require PostgreSQL)", pytrace=False)
    pytest.skip(reason)


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(_libpq(ADMIN_URL), autocommit=True) as connection:
        connection.execute(statement)


@contextmanager
def fresh_database(prefix: str = "ecs1_test") -> Iterator[str]:
    """Create an empty database on the test server; yield its async URL; drop it (and its sessions) after."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield (
            make_url(ADMIN_URL)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
