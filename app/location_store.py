"""Location reads and writes for the hot paths, coalesced into batches (see app/core/coalesce.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._writes: Coalescer[NewLocation, StoredLocation] = Coalescer(self._insert_batch, MAX_BATCH)
        self._reads: Coalescer[frozenset[int], list[Row]] = Coalescer(self._latest_batch, MAX_READ_BATCH)

    async def add(self, location: NewLocation) -> StoredLocation:
        """Store one location; returns once it is committed (acknowledged writes are durable)."""
        return await self._writes.submit(location)

    async def latest(self, user_ids: frozenset[int]) -> list[Row]:
        """The latest location of each of these users who has one, ordered by user id."""
        return await self._reads.submit(user_ids)

    async def _insert_batch(self, batch: list[NewLocation]) -> Sequence[StoredLocation | BaseException]:
        statement = insert(Location).returning(Location.id, Location.created_at, sort_by_parameter_order=True)
        rows = [{"user_id": n.user_id, "lat": n.lat, "lng": n.lng} for n in batch]
        async with self._sessionmaker() as session:
            try:
                stored = (await session.execute(statement, rows)).all()
                await session.commit()
                return [StoredLocation(location_id, created_at) for location_id, created_at in stored]
            except IntegrityError:
                await session.rollback()
            # A user in the batch was deleted: store the others one by one so only that write fails.
            results: list[StoredLocation | BaseException] = []
            for row in rows:
                try:
                    location_id, created_at = (await session.execute(statement, [row])).one()
                    await session.commit()
                    results.append(StoredLocation(location_id, created_at))
                except IntegrityError:
                    await session.rollback()
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
        async with self._sessionmaker() as session:
            rows = (await session.execute(statement)).all()
        return [[row for row in rows if row.id in ids] for ids in batch]
