"""Location reads and writes for the hot paths, coalesced into batches (see app/core/coalesce.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.coalesce import Coalescer
from app.models import Location, User

MAX_BATCH = 64
# Up to this many requests' id lists go into one query (64 x 1000 ids stays under SQLite's 32,766 variables).
MAX_READ_BATCH = 16

LATEST_COLUMNS = (
    User.id,
    User.user_name,
    Location.lat,
    Location.lng,
    Location.created_at,
    Location.id.label("location_id"),
)


class UserGone(Exception):
    """The user of a write no longer exists (deleted after their token was issued)."""


@dataclass(frozen=True, slots=True)
class NewLocation:
    user_id: int
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class StoredLocation:
    location_id: int
    created_at: datetime


class LocationStore:
    """Core statements on a connection, not ORM sessions: these paths need no unit of work, only speed.

    aiosqlite runs each step of SQLAlchemy's cursor protocol (open, execute, fetch, close, commit) as its own
    round trip to the driver's thread, and under load every round trip waits its turn in a busy event loop.
    So on aiosqlite the batch insert goes to the driver directly: one round trip for the statement and one
    for the commit (`invoke bench` measures the difference; the README has the figures). Other drivers
    (PostgreSQL) take the SQLAlchemy path, which the tests exercise too.
    """

    def __init__(self, engine: AsyncEngine, *, direct_driver: bool | None = None) -> None:
        self._engine = engine
        self._direct_driver = engine.dialect.driver == "aiosqlite" if direct_driver is None else direct_driver
        self._writes: Coalescer[NewLocation, StoredLocation] = Coalescer(self._insert_batch, MAX_BATCH)
        self._reads: Coalescer[frozenset[int], list[Row]] = Coalescer(self._latest_batch, MAX_READ_BATCH)

    async def add(self, location: NewLocation) -> StoredLocation:
        """Store one location; returns once it is committed (acknowledged writes are durable)."""
        return await self._writes.submit(location)

    async def latest(self, user_ids: frozenset[int]) -> list[Row]:
        """The latest location of each of these users who has one, ordered by user id."""
        return await self._reads.submit(user_ids)

    async def _insert_batch(self, batch: list[NewLocation]) -> Sequence[StoredLocation | BaseException]:
        table = Location.__table__
        statement = insert(table).returning(table.c.id, table.c.created_at, sort_by_parameter_order=True)
        rows = [{"user_id": n.user_id, "lat": n.lat, "lng": n.lng} for n in batch]
        async with self._engine.connect() as connection:
            try:
                if self._direct_driver:
                    stored = await _insert_through_driver(connection, batch)
                else:
                    stored = [(row.id, row.created_at) for row in await connection.execute(statement, rows)]
                    await connection.commit()
                return [StoredLocation(location_id, created_at) for location_id, created_at in stored]
            except (IntegrityError, sqlite3.IntegrityError):
                await connection.rollback()
            # A user in the batch was deleted: store the others one by one so only that write fails.
            results: list[StoredLocation | BaseException] = []
            for row in rows:
                try:
                    location_id, created_at = (await connection.execute(statement, [row])).one()
                    await connection.commit()
                    results.append(StoredLocation(location_id, created_at))
                except IntegrityError:
                    await connection.rollback()
                    results.append(UserGone())
            return results

    async def _latest_batch(self, batch: list[frozenset[int]]) -> list[list[Row]]:
        wanted = frozenset().union(*batch)
        latest_id = (
            select(Location.id)
            .where(Location.user_id == User.id)
            .order_by(Location.id.desc())
            .limit(1)
            .correlate(User)
            .scalar_subquery()
        )
        statement = (
            select(*LATEST_COLUMNS)
            .select_from(User)
            .join(Location, Location.id == latest_id)
            .where(User.id.in_(wanted))
            .order_by(User.id)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        return [[row for row in rows if row.id in ids] for ids in batch]


async def _insert_through_driver(
    connection: AsyncConnection, batch: list[NewLocation]
) -> list[tuple[int, datetime]]:
    """One multi-row INSERT ... RETURNING and a commit, sent to aiosqlite itself (see LocationStore)."""
    driver = (await connection.get_raw_connection()).driver_connection
    values = ", ".join(["(?, ?, ?)"] * len(batch))
    parameters = [value for new in batch for value in (new.user_id, new.lat, new.lng)]
    sql = f"INSERT INTO locations (user_id, lat, lng) VALUES {values} RETURNING id, created_at"  # noqa: S608
    try:
        rows = await driver.execute_fetchall(sql, parameters)
        await driver.commit()
    except sqlite3.IntegrityError:
        await driver.rollback()
        raise
    # SQLite numbers the rows in VALUES order, so sorting by id restores the callers' order (the same
    # sentinel SQLAlchemy's insertmanyvalues relies on for SQLite).
    return sorted((location_id, datetime.fromisoformat(created_at)) for location_id, created_at in rows)
