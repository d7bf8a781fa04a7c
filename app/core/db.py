"""The async engine and sessions.

SQLite journal choice (`invoke bench` measures both side by side; see the README):
the task keeps its SQLite file on EFS, a network file system. WAL in its normal mode needs a shared-memory
index (`-shm`) that NFS cannot share safely, so the default is WAL with `locking_mode=EXCLUSIVE` set before
WAL is enabled: SQLite then keeps the WAL index in process memory and never touches shared memory. The price
is that exactly one connection may hold the file, which suits a single-writer service: the pool is one
connection, transactions are kept short, and slow work (bcrypt) never runs while holding it. WAL commits
append to one file with `synchronous=NORMAL` (durable across application crashes; a power loss can lose only
the last commits, never corrupt the file), and measured about 1.5x the write throughput of the rollback
journal with `synchronous=FULL` (3,061 vs 2,051 writes/s), whose every commit also rewrites and syncs the
database file and a journal beside it, each a round trip on EFS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.core.coalesce import Coalescer
from app.core.config import Settings


def sqlite_pragmas(journal: str, busy_timeout_ms: int) -> list[str]:
    pragmas = ["PRAGMA foreign_keys=ON", f"PRAGMA busy_timeout={int(busy_timeout_ms)}"]
    if journal == "wal-exclusive":
        pragmas += ["PRAGMA locking_mode=EXCLUSIVE", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"]
    else:
        pragmas += ["PRAGMA locking_mode=NORMAL", "PRAGMA journal_mode=DELETE", "PRAGMA synchronous=FULL"]
    return pragmas


def ensure_sqlite_directory(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def install_sqlite_pragmas(sync_engine: Any, journal: str, busy_timeout_ms: int) -> None:
    pragmas = sqlite_pragmas(journal, busy_timeout_ms)

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()


def create_engine(settings: Settings) -> AsyncEngine:
    kwargs: dict[str, Any] = {}
    if settings.is_sqlite:
        ensure_sqlite_directory(settings.database_url)
        # One connection: SQLite has one writer, and EXCLUSIVE locking lets only one connection in at all.
        kwargs.update(pool_size=1, max_overflow=0, pool_timeout=30, pool_reset_on_return=None)
    else:
        # Each task keeps up to 10 connections, so 4 tasks stay far below a db.t4g.micro's max_connections
        # (RDS: memory / 9531392, about 110 for 1 GiB). pre_ping replaces a connection the server closed (a
        # reboot, a failover) instead of failing the request that drew it.
        kwargs.update(pool_size=5, max_overflow=5, pool_timeout=30, pool_pre_ping=True)
    engine = create_async_engine(settings.database_url, **kwargs)
    if settings.is_sqlite:
        install_sqlite_pragmas(engine.sync_engine, settings.sqlite_journal, settings.sqlite_busy_timeout_ms)
    if settings.database_secret_arn:
        from app.core.database_secret import DatabaseSecret, install_secret_refresh

        install_secret_refresh(engine.sync_engine, DatabaseSecret(settings.database_secret_arn))
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def database_probe(engine: AsyncEngine) -> Coalescer[None, None]:
    """`await probe.submit(None)` checks the database answers; concurrent checks share one query."""

    async def probe(batch: list[None]) -> list[None]:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return [None] * len(batch)

    return Coalescer(probe, max_batch=1024)
