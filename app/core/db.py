"""The async engine and sessions, and the checks that the database file is still the one on disk.

SQLite journal choice (`invoke bench` measures both side by side; see the README):
the task keeps its SQLite file on EFS, a network file system. WAL in its normal mode needs a shared-memory
index (`-shm`) that NFS cannot share safely, so the default is WAL with `locking_mode=EXCLUSIVE` set before
WAL is enabled: SQLite then keeps the WAL index in process memory and never touches shared memory. The price
is that exactly one connection may hold the file, which suits a single-writer service: the pool is one
connection, transactions are kept short, and slow work (bcrypt) never runs while holding it.

Durability: a write is acknowledged only once it would survive a crash of the machine, not just of the
process. So WAL runs with `synchronous=FULL`: every commit fsyncs the WAL before it returns. (`NORMAL` syncs
only at checkpoints; a lost VM, as a Fargate task's can be, then loses the commits since the last one, which
a fault injected at the OS level measured: 200 of 200 acknowledged writes gone.) Group commit
(app/location_store.py) makes that one fsync per batch of writes, not per write; `invoke bench` shows the
write figure with `SQLITE_SYNCHRONOUS=full` and `normal` side by side. The rollback journal always runs
`FULL`; it is slower still, since every commit also rewrites and syncs the database file and a journal.

A file removed while open (`rm -rf` of the data folder) keeps accepting writes that vanish with the last file
descriptor, so every checkout of the connection compares the open file's identity (device, inode) with the
path's, and refuses to work on a file that is no longer there (StorageUnavailable: a 503).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.core.coalesce import Coalescer
from app.core.config import Settings
from app.core.database_url import sqlite_path


def sqlite_pragmas(journal: str, busy_timeout_ms: int, synchronous: str = "full") -> list[str]:
    pragmas = ["PRAGMA foreign_keys=ON", f"PRAGMA busy_timeout={int(busy_timeout_ms)}"]
    if journal == "wal-exclusive":
        level = "FULL" if synchronous == "full" else "NORMAL"
        pragmas += ["PRAGMA locking_mode=EXCLUSIVE", "PRAGMA journal_mode=WAL", f"PRAGMA synchronous={level}"]
    else:
        pragmas += ["PRAGMA locking_mode=NORMAL", "PRAGMA journal_mode=DELETE", "PRAGMA synchronous=FULL"]
    return pragmas


def ensure_sqlite_directory(database_url: str) -> None:
    path = sqlite_path(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def install_sqlite_pragmas(
    sync_engine: Any, journal: str, busy_timeout_ms: int, synchronous: str = "full"
) -> None:
    pragmas = sqlite_pragmas(journal, busy_timeout_ms, synchronous)

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()


class StorageUnavailable(Exception):
    """The database cannot take writes (its file is gone, its file system is full or read-only)."""


# /health fails below this much free space: a commit may need several pages, a checkpoint the WAL's size.
MIN_FREE_BYTES = 1024 * 1024
# /health proves a commit reaches the disk at least this often (and at once after a storage error).
WRITE_PROBE_SECONDS = 5.0


@dataclass
class SqliteFile:
    """The database file the engine opened: its identity is taken at the first connection, once."""

    path: Path
    identity: tuple[int, int] | None = None

    def opened(self) -> None:
        if self.identity is None:
            stat = os.stat(self.path)
            self.identity = (stat.st_dev, stat.st_ino)

    def check_same_file(self) -> None:
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            raise StorageUnavailable("the database file is gone") from exc
        if (stat.st_dev, stat.st_ino) != self.identity:
            raise StorageUnavailable("the database file was replaced")

    def check_writable(self) -> None:
        """What the file system says about writing beside the file: read-only, or (nearly) full."""
        try:
            stats = os.statvfs(self.path.parent)
        except OSError as exc:
            raise StorageUnavailable("the database folder is gone") from exc
        if stats.f_flag & os.ST_RDONLY:
            raise StorageUnavailable("the database's file system is read-only")
        if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
            raise StorageUnavailable("the database's file system is full")


def sqlite_file(database_url: str) -> SqliteFile | None:
    path = sqlite_path(database_url)
    return None if path is None else SqliteFile(path)


def guard_sqlite_file(sync_engine: Any, database: SqliteFile) -> None:
    """Record the file at the first connection; refuse every later checkout once it is not that file."""

    @event.listens_for(sync_engine, "connect")
    def _on_connect(_dbapi_connection: Any, _record: Any) -> None:
        database.opened()

    @event.listens_for(sync_engine, "checkout")
    def _on_checkout(_dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        database.check_same_file()


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
        install_sqlite_pragmas(
            engine.sync_engine,
            settings.sqlite_journal,
            settings.sqlite_busy_timeout_ms,
            settings.sqlite_synchronous,
        )
        database = sqlite_file(settings.database_url)
        if database is not None:
            guard_sqlite_file(engine.sync_engine, database)
    if settings.database_secret_arn:
        from app.core.database_secret import DatabaseSecret, install_secret_refresh

        install_secret_refresh(engine.sync_engine, DatabaseSecret(settings.database_secret_arn))
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


_WRITE_PROBE = text(
    "INSERT INTO storage_probe (id, written_at) VALUES (1, :now) "
    "ON CONFLICT (id) DO UPDATE SET written_at = :now"
)


@dataclass
class StorageHealth:
    """What `/health` checks, in order of cost: the file is still the one on disk and its file system takes
    writes (a few system calls), the database answers (`SELECT 1`), and, every WRITE_PROBE_SECONDS or right
    after a request met a storage error, that a commit really reaches the disk (one fsync). A failed commit
    is what a read-only or failing file system shows first; the system calls cannot see it coming.

    `await health.probe.submit(None)` raises when the database is not usable; concurrent checks share one.
    """

    engine: AsyncEngine
    database: SqliteFile | None
    clock: Any = time.monotonic
    _written_at: float = field(init=False, default=float("-inf"))
    probe: Coalescer[None, None] = field(init=False)
    # Rows the probe has written: changes of the app's own, which the backups do not count as new data.
    probe_writes: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.probe = Coalescer(self._check, max_batch=1024)

    def storage_failed(self) -> None:
        """A request met a storage error: the next check writes, whatever the schedule."""
        self._written_at = float("-inf")

    async def _check(self, batch: list[None]) -> list[None]:
        if self.database is not None:
            self.database.check_writable()
        now = self.clock()
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            if now - self._written_at >= WRITE_PROBE_SECONDS:
                await connection.execute(_WRITE_PROBE, {"now": time.time()})
                await connection.commit()
                self.probe_writes += 1  # one row, counted before the connection goes back to the pool
                self._written_at = now
        return [None] * len(batch)


def storage_health(engine: AsyncEngine, settings: Settings) -> StorageHealth:
    return StorageHealth(engine, sqlite_file(settings.database_url) if settings.is_sqlite else None)
