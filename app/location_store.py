"""Location reads and writes for the hot paths, coalesced into batches (see app/core/coalesce.py).

Each batch also checks every caller's token against their account (app/user_store.py) in the same statement
or transaction as the work itself: a revoked token fails at once, at no extra round trip per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, Select, and_, bindparam, false, insert, join, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import aliased

from app.core.coalesce import Coalescer
from app.core.tokens import TokenUser
from app.models import MAX_STORED_ID, Location, User
from app.user_store import NoSuchUser, TokenRevoked, binding, binding_columns, bound_to, sees

MAX_BATCH = 64
# Up to this many requests' id lists go into one query: each id is a (caller, user) pair of two variables
# plus the id itself, so 8 x 1000 ids stay under SQLite's 32,766 variables.
MAX_READ_BATCH = 8

LATEST_COLUMNS = (
    User.id,
    User.user_name,
    Location.lat,
    Location.lng,
    Location.created_at,
    Location.id.label("location_id"),
)


@dataclass(frozen=True, slots=True)
class NewLocation:
    author: TokenUser
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class StoredLocation:
    location_id: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LatestQuery:
    viewer: TokenUser
    user_ids: frozenset[int]


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
        self._reads: Coalescer[LatestQuery, list[Row]] = Coalescer(self._latest_batch, MAX_READ_BATCH)

    async def add(self, location: NewLocation) -> StoredLocation:
        """Store one location for its author; returns once it is committed. TokenRevoked if the author's token
        no longer belongs to their account."""
        return await self._writes.submit(location)

    async def latest(self, viewer: TokenUser, user_ids: frozenset[int]) -> list[Row]:
        """The latest location of each of these users who has one and whom the viewer may see, by user id.
        TokenRevoked if the viewer's token no longer belongs to their account."""
        return await self._reads.submit(
            LatestQuery(viewer, frozenset(i for i in user_ids if i <= MAX_STORED_ID))
        )

    async def history(self, viewer: TokenUser, owner_id: int, limit: int, before: int | None) -> list[Row]:
        """A page of the owner's locations, newest first. NoSuchUser for an owner the viewer may not see,
        exactly as for one that does not exist."""
        account = aliased(User, name="viewer")
        owner = aliased(User, name="owner")
        visible_owner = (
            and_(owner.id == owner_id, sees(account, owner.id)) if owner_id <= MAX_STORED_ID else false()
        )
        access = (
            select(account.id, owner.id.label("owner_id"))
            .select_from(account)
            .outerjoin(owner, visible_owner)
            .where(bound_to(viewer, account))
        )
        page = (
            select(*LATEST_COLUMNS)
            .join(Location, Location.user_id == User.id)
            .where(User.id == owner_id)
            .order_by(Location.id.desc())
            .limit(limit)
        )
        if before is not None:
            page = page.where(Location.id < before)
        async with self._engine.connect() as connection:
            allowed = (await connection.execute(access)).one_or_none()
            if allowed is None:
                raise TokenRevoked
            if allowed.owner_id is None:
                raise NoSuchUser
            return list((await connection.execute(page)).all())

    async def _insert_batch(self, batch: list[NewLocation]) -> Sequence[StoredLocation | BaseException]:
        async with self._engine.connect() as connection:
            if self._direct_driver:
                stored = await _insert_through_driver(connection, batch)
            else:
                stored = await _insert_through_sqlalchemy(connection, batch)
        results: list[StoredLocation | BaseException] = []
        rows = iter(stored)
        accepted = {author for _, _, author in stored}
        for new in batch:
            if binding(new.author) in accepted:
                location_id, created_at, _ = next(rows)
                results.append(StoredLocation(location_id, created_at))
            else:
                results.append(TokenRevoked())
        return results

    async def _latest_batch(self, batch: list[LatestQuery]) -> list[list[Row] | BaseException]:
        """One query for the whole batch: each caller's token checked, each caller's users filtered by what
        that caller may see (the (caller, user) pairs asked for, not every caller against every user)."""
        bindings = {binding(query.viewer) for query in batch if query.viewer.version is not None}
        parameters = {
            "viewer_ids": list({viewer_id for viewer_id, _, _ in bindings}),
            "bindings": list(bindings),
            "user_ids": list(frozenset().union(*(query.user_ids for query in batch))),
            "pairs": list({(query.viewer.id, user_id) for query in batch for user_id in query.user_ids}),
        }
        async with self._engine.connect() as connection:
            rows = (await connection.execute(_LATEST_VISIBLE, parameters)).all() if bindings else []
        valid = {(row.viewer_id, row.viewer_name, row.viewer_version) for row in rows}
        results: list[list[Row] | BaseException] = []
        for query in batch:
            if binding(query.viewer) not in valid:
                results.append(TokenRevoked())
                continue
            results.append(
                [row for row in rows if row.viewer_id == query.viewer.id and row.id in query.user_ids]
            )
        return results


def _latest_visible_statement() -> Select:
    """The latest location of each asked-for user whom the asking viewer may see, with the viewer's binding
    (a valid viewer always has a row, with no location when none is visible). Built once: constructing it
    cost more than running it. Parameters: viewer_ids, bindings (id, name, version), user_ids and the
    (viewer id, user id) pairs asked for, so no viewer is checked against another caller's users."""
    viewer = aliased(User, name="viewer")
    latest_id = (
        select(Location.id)
        .where(Location.user_id == User.id)
        .order_by(Location.id.desc())
        .limit(1)
        .correlate(User)
        .scalar_subquery()
    )
    visible_latest = and_(
        User.id.in_(bindparam("user_ids", expanding=True)),
        tuple_(viewer.id, User.id).in_(bindparam("pairs", expanding=True)),
        sees(viewer, User.id),
    )
    return (
        select(
            viewer.id.label("viewer_id"),
            viewer.user_name.label("viewer_name"),
            viewer.token_version.label("viewer_version"),
            *LATEST_COLUMNS,
        )
        .select_from(viewer)
        .outerjoin(join(User, Location, Location.id == latest_id), visible_latest)
        # The id alone lets SQLite seek the callers by primary key; the binding then checks their tokens.
        .where(
            viewer.id.in_(bindparam("viewer_ids", expanding=True)),
            binding_columns(viewer).in_(bindparam("bindings", expanding=True)),
        )
        .order_by(User.id)
    )


_LATEST_VISIBLE = _latest_visible_statement()

# The rows a write batch stored, in the batch's order: (location id, created_at, (user id, name, version)).
Stored = list[tuple[int, datetime, tuple[int, str, int]]]


async def _insert_through_sqlalchemy(connection: AsyncConnection, batch: list[NewLocation]) -> Stored:
    """Check the authors' tokens, then insert the accepted rows, in one transaction. On PostgreSQL the
    authors' rows are share-locked until the commit: a concurrent revocation waits for this write."""
    bindings = {binding(new.author) for new in batch if new.author.version is not None}
    current = select(User.id, User.user_name, User.token_version).where(binding_columns().in_(bindings))
    locked = await connection.execute(current.with_for_update(read=True))
    accepted = {row.id: (row.id, row.user_name, row.token_version) for row in locked}
    rows = [
        {"user_id": new.author.id, "lat": new.lat, "lng": new.lng}
        for new in batch
        if accepted.get(new.author.id) == binding(new.author)
    ]
    stored: Stored = []
    if rows:
        statement = insert(Location).returning(
            Location.id, Location.user_id, Location.created_at, sort_by_parameter_order=True
        )
        result = await connection.execute(statement, rows)
        stored = [(row.id, row.created_at, accepted[row.user_id]) for row in result]
    await connection.commit()
    return stored


async def _insert_through_driver(connection: AsyncConnection, batch: list[NewLocation]) -> Stored:
    """One statement sent to aiosqlite itself (see LocationStore) and a commit: the authors' tokens are
    checked by the join, so a revoked token's row is never inserted."""
    driver = (await connection.get_raw_connection()).driver_connection
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(batch))
    parameters = [
        value
        for position, new in enumerate(batch)
        for value in (position, new.author.id, new.author.user_name, new.author.version, new.lat, new.lng)
    ]
    # ORDER BY makes SQLite number the rows in the batch's order; RETURNING gives each row's account binding
    # so that a batch holding an author's old and new tokens tells which of them was accepted.
    sql = (
        f"WITH incoming (position, user_id, user_name, version, lat, lng) AS (VALUES {values}) "  # noqa: S608
        "INSERT INTO locations (user_id, lat, lng) "
        "SELECT incoming.user_id, incoming.lat, incoming.lng FROM incoming JOIN users"
        " ON users.id = incoming.user_id AND users.user_name = incoming.user_name"
        " AND users.token_version = incoming.version "
        "ORDER BY incoming.position "
        "RETURNING id, created_at, user_id,"
        " (SELECT user_name FROM users WHERE users.id = locations.user_id),"
        " (SELECT token_version FROM users WHERE users.id = locations.user_id)"
    )
    try:
        rows = await driver.execute_fetchall(sql, parameters)
        await driver.commit()
    except Exception:
        await driver.rollback()
        raise
    return sorted(
        (location_id, datetime.fromisoformat(created_at), (user_id, user_name, version))
        for location_id, created_at, user_id, user_name, version in rows
    )
