"""Taking snapshots of the SQLite database while the app runs, and restoring one at the next start.

SQLite-specific by nature (PostgreSQL has its own backups: with another database the schedule is off).

Taking a snapshot: the app holds its file with `locking_mode=EXCLUSIVE` and one pooled connection, so no other
process can read it; `VACUUM INTO` runs on that connection instead (in aiosqlite's thread, so the event loop
keeps serving; requests needing the database wait for the connection meanwhile) and writes a consistent,
compacted copy of everything committed so far.

Schedule (BACKUP_INTERVAL_SECONDS, default hourly): at each tick a snapshot is taken when the database
changed since the last one (`total_changes()` of the one connection, a counter SQLite keeps for free, less
the probe rows /health writes), or when no snapshot was kept yet on this UTC day (the tiers, keys and stores:
app/snapshots.py). A database that never changes is still snapshotted once a day, so its newest snapshot
never ages out. The app also snapshots on a clean shutdown if anything changed, so a deploy or a restart
leaves its last writes in a snapshot.

Restoring: `invoke restore` leaves a request beside the snapshots (`restore-request.json`); the next start
(`python -m app.server`, before migrations open the database) fetches the snapshot, refuses it with one line
unless it is a sound SQLite database of this app, and otherwise moves the live file aside
(`app.db.before-restore-<time>`) and puts the snapshot in its place.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.database_url import sqlite_path
from app.snapshots import (
    DEFAULT_INTERVAL_SECONDS,
    ON_DEMAND_TIER,
    BackupError,
    DirectoryStore,
    S3Store,
    Snapshot,
    SnapshotStore,
    check_snapshot,
    snapshot_key,
    utcnow,
)

log = logging.getLogger("app.backup")

SHUTDOWN_SECONDS = 10  # of uvicorn's 20 s graceful shutdown, within ECS's 30 s stop timeout


class BackupSettings(BaseSettings):
    """Where snapshots go and how often; which database they copy is the app's (DatabaseSettings)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    backup_bucket: str = ""  # S3 (the application stack sets it); empty: a folder beside the database
    backup_prefix: str = "backups/"
    backup_dir: str = ""  # default: `backups/` beside the database file
    backup_interval_seconds: float = Field(
        default=DEFAULT_INTERVAL_SECONDS, ge=0
    )  # 0: no schedule (on demand and shutdown only)


def store_for(settings: BackupSettings, database: Path) -> SnapshotStore:
    """Where the snapshots of the SQLite file `database` go."""
    if settings.backup_bucket:
        return S3Store(settings.backup_bucket, settings.backup_prefix)
    return DirectoryStore(Path(settings.backup_dir) if settings.backup_dir else database.parent / "backups")


class Backups:
    """Snapshots of the app's database through its own engine, kept in `store`."""

    def __init__(
        self,
        engine: AsyncEngine,
        store: SnapshotStore,
        prefix: str = "",
        uncounted: Callable[[], int] = lambda: 0,
    ) -> None:
        """`uncounted()`: how many row changes so far were the app's own bookkeeping, no reason for a snapshot
        (/health's storage probe, which the container's health check makes every 30 s)."""
        self.engine = engine
        self.store = store
        self.prefix = prefix
        self.uncounted = uncounted
        self._lock = asyncio.Lock()
        self._fingerprint: tuple[int, int] | None = None
        self._daily_on: str | None = None

    async def snapshot(self, tier: str = ON_DEMAND_TIER) -> Snapshot:
        async with self._lock:
            taken_at = utcnow()
            key = snapshot_key(self.prefix, tier, taken_at)
            with tempfile.TemporaryDirectory(prefix="snapshot-") as folder:
                target = Path(folder) / "snapshot.sqlite3"
                started = time.perf_counter()
                try:
                    async with self.engine.connect() as connection:
                        fingerprint = await self._changes_on(connection)
                        await connection.exec_driver_sql("VACUUM INTO ?", (str(target),))
                except SQLAlchemyError as exc:
                    log.exception("copying the database for snapshot %s failed", key)
                    raise BackupError(f"the database could not be copied ({type(exc).__name__})") from exc
                held = time.perf_counter() - started
                try:
                    await asyncio.to_thread(self.store.put, target, key)
                except Exception as exc:  # S3 or the disk: the caller gets one line, the log the detail
                    log.exception("storing snapshot %s in %s failed", key, self.store.description)
                    raise BackupError(f"storing the snapshot in {self.store.description} failed") from exc
                size = target.stat().st_size
            self._fingerprint = fingerprint
            if tier == "daily":
                self._daily_on = taken_at.date().isoformat()
            log.info(
                "snapshot %s (%d bytes; database held %.0f ms) in %s",
                key,
                size,
                held * 1000,
                self.store.description,
            )
            return Snapshot(key, taken_at, size)

    async def _changes_on(self, connection: Any) -> tuple[int, int]:
        # A new connection restarts SQLite's counter: the connection's identity is part of the fingerprint.
        # The app's one connection is held here, so no probe can write between the two counts.
        raw = await connection.get_raw_connection()
        total = (await connection.exec_driver_sql("SELECT total_changes()")).scalar_one()
        return id(raw.dbapi_connection), total - self.uncounted()

    async def changed(self) -> bool:
        async with self.engine.connect() as connection:
            return await self._changes_on(connection) != self._fingerprint

    async def mark_unchanged(self) -> None:
        """Count changes from now (at start; the first tick snapshots anyway, as none was kept today yet)."""
        async with self.engine.connect() as connection:
            self._fingerprint = await self._changes_on(connection)

    async def tick(self) -> Snapshot | None:
        """The scheduled step: a snapshot if something changed, or if none was kept yet today."""
        if self._daily_on != utcnow().date().isoformat():
            return await self.snapshot("daily")
        if await self.changed():
            return await self.snapshot("hourly")
        log.info("scheduled check: nothing changed since the last snapshot")  # the schedule is alive
        return None

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except Exception:  # a failed snapshot must not stop the schedule or the API
                log.exception("scheduled snapshot failed; the next tick tries again")


@asynccontextmanager
async def scheduled_backups(
    engine: AsyncEngine, uncounted: Callable[[], int] = lambda: 0
) -> AsyncIterator[Backups | None]:
    """Backups for the app's lifetime: the schedule, and a last snapshot on shutdown if anything changed
    (`uncounted`: see Backups)."""
    # The engine's database, not DATABASE_URL's: an app can be made with other settings (tests do).
    database = sqlite_path(engine.url.render_as_string(hide_password=False))
    if database is None:
        yield None
        return
    settings = BackupSettings()
    store = store_for(settings, database)
    backups = Backups(engine, store, settings.backup_prefix if settings.backup_bucket else "", uncounted)
    try:
        await backups.mark_unchanged()
    except Exception as exc:  # an unusable database: /health says so; snapshots will fail and say why
        log.warning("backups: cannot read the database's change counter: %s", exc)
    schedule = (
        asyncio.create_task(backups.run(settings.backup_interval_seconds))
        if settings.backup_interval_seconds
        else None
    )
    try:
        yield backups
    finally:
        if schedule is not None:
            schedule.cancel()
        try:
            if await backups.changed():
                await asyncio.wait_for(backups.snapshot("hourly"), SHUTDOWN_SECONDS)
        except Exception:
            log.exception("the shutdown snapshot failed; the last scheduled one stands")


def restore_pending(
    database_url: str, settings: BackupSettings | None = None, now: Callable[[], datetime] = utcnow
) -> str | None:
    """At start, before anything opens the database: carry out a restore request if there is one.

    Returns the line to log (None without a request). A refused snapshot leaves the live database untouched.
    """
    database = sqlite_path(database_url)
    if database is None:
        return None
    store = store_for(settings or BackupSettings(), database)
    request = store.read_request()
    if request is None:
        return None
    key = str(request.get("key", ""))
    stamp = now().strftime("%Y%m%dT%H%M%SZ")
    incoming = database.with_name(f"{database.name}.restoring-{stamp}")
    try:
        store.get(key, incoming)
        check_snapshot(incoming)
    except BackupError as exc:
        incoming.unlink(missing_ok=True)
        store.delete_request()
        return f"error: restore of {key} refused: {exc}; the live database is untouched"
    kept = database.with_name(f"{database.name}.before-restore-{stamp}")
    for suffix in ("", "-wal", "-shm", "-journal"):
        live = Path(f"{database}{suffix}")
        if live.exists():
            os.replace(live, Path(f"{kept}{suffix}"))
    os.replace(incoming, database)
    store.delete_request()
    replaced = f"the replaced database is kept as {kept}" if kept.exists() else "there was no database before"
    return f"restored snapshot {key} from {store.description}; {replaced}"
