"""Snapshots of the SQLite database, where they are kept, and restoring one at the next start.

SQLite-specific by nature (PostgreSQL has its own backups: with another database the schedule is off).

Taking a snapshot: the app holds its file with `locking_mode=EXCLUSIVE` and one pooled connection, so no other
process can read it; `VACUUM INTO` runs on that connection instead (in aiosqlite's thread, so the event loop
keeps serving; requests needing the database wait for the connection meanwhile) and writes a consistent,
compacted copy of everything committed so far.

Schedule (BACKUP_INTERVAL_SECONDS, default hourly): at each tick a snapshot is taken when the database
changed since the last one (`total_changes()` of the one connection, a counter SQLite keeps for free), or
when no snapshot was kept yet on this UTC day. The first of each UTC day goes under `daily/` (kept 30 days),
the others under `hourly/` (kept 7 days); on AWS the bucket's lifecycle rules expire them, locally nothing
expires. A database that never changes is still snapshotted once a day, so its newest snapshot never ages
out. The app also snapshots on a clean shutdown if anything changed, so a deploy or a restart leaves its last
writes in a snapshot.

Restoring: `invoke restore` leaves a request beside the snapshots (`restore-request.json`); the next start
(`python -m app.server`, before migrations open the database) fetches the snapshot, refuses it with one line
unless it is a sound SQLite database of this app, and otherwise moves the live file aside
(`app.db.before-restore-<time>`) and puts the snapshot in its place.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("app.backup")

SQLITE_HEADER = b"SQLite format 3\x00"
SUFFIX = ".sqlite3"
TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"
REQUEST_NAME = "restore-request.json"
# Tier -> days its snapshots are kept (the bucket's lifecycle rules are rendered from this).
RETENTION_DAYS = {"hourly": 7, "daily": 30}
SECONDS_PER_DAY = 24 * 3600
DEFAULT_INTERVAL_SECONDS = 3600
ON_DEMAND_TIER = "daily"  # `invoke backup` keeps its snapshot as long as a daily one
SHUTDOWN_SECONDS = 10  # of uvicorn's 20 s graceful shutdown, within ECS's 30 s stop timeout


class BackupError(Exception):
    """A snapshot or a restore that cannot be done; str() is one line a user can act on."""


class BackupSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./data/app.db"
    backup_bucket: str = ""  # S3 (the application stack sets it); empty: a folder beside the database
    backup_prefix: str = "backups/"
    backup_dir: str = ""  # default: `backups/` beside the database file
    backup_interval_seconds: int = Field(
        default=DEFAULT_INTERVAL_SECONDS, ge=0
    )  # 0: no schedule (on demand and shutdown only)

    @property
    def database_path(self) -> Path | None:
        url = make_url(self.database_url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return Path(url.database)


@dataclass(frozen=True)
class Snapshot:
    key: str
    taken_at: datetime
    size: int

    @property
    def tier(self) -> str:
        return self.key.rsplit("/", 2)[-2]


def snapshots_per_day(tier: str, interval: int = DEFAULT_INTERVAL_SECONDS) -> int:
    """At most, for a database that changes all the time: the first of the day is the daily one."""
    ticks = SECONDS_PER_DAY // interval
    return 1 if tier == "daily" else ticks - 1


def snapshot_key(prefix: str, tier: str, taken_at: datetime) -> str:
    return f"{prefix}{tier}/{taken_at.strftime(TIME_FORMAT)}{SUFFIX}"


def parse_key(key: str, size: int = 0) -> Snapshot | None:
    """The snapshot a key names, or None for anything else under the prefix (the restore request)."""
    name = key.rsplit("/", 1)[-1]
    if not name.endswith(SUFFIX) or key.rsplit("/", 2)[-2] not in RETENTION_DAYS:
        return None
    try:
        taken_at = datetime.strptime(name.removesuffix(SUFFIX), TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return Snapshot(key, taken_at, size)


class SnapshotStore(Protocol):
    description: str

    def put(self, source: Path, key: str) -> None: ...
    def get(self, key: str, destination: Path) -> None: ...
    def snapshots(self) -> list[Snapshot]: ...
    def read_request(self) -> dict[str, Any] | None: ...
    def write_request(self, request: dict[str, Any]) -> None: ...
    def delete_request(self) -> None: ...


class DirectoryStore:
    """Snapshots as files in a folder (locally: `./data/backups/`); keys are paths relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = str(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise BackupError(f"{key} is not a snapshot in {self.root}")
        return path

    def put(self, source: Path, key: str) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(source.read_bytes())
        os.replace(partial, target)

    def get(self, key: str, destination: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise BackupError(f"no snapshot {key} in {self.root}: `invoke restore --local --list` shows them")
        destination.write_bytes(source.read_bytes())

    def snapshots(self) -> list[Snapshot]:
        found = (
            parse_key(path.relative_to(self.root).as_posix(), path.stat().st_size)
            for path in self.root.glob(f"*/*{SUFFIX}")
        )
        return sorted((s for s in found if s), key=lambda s: s.taken_at)

    def read_request(self) -> dict[str, Any] | None:
        path = self.root / REQUEST_NAME
        return json.loads(path.read_text()) if path.is_file() else None

    def write_request(self, request: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / REQUEST_NAME).write_text(json.dumps(request))

    def delete_request(self) -> None:
        (self.root / REQUEST_NAME).unlink(missing_ok=True)


class S3Store:
    """Snapshots in the application stack's bucket, under the one prefix the task role may use."""

    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        if client is None:
            import boto3  # boto3 reads AWS_ENDPOINT_URL itself (the emulator in tests)

            client = boto3.client("s3")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.description = f"s3://{bucket}/{prefix}"

    def put(self, source: Path, key: str) -> None:
        self.client.upload_file(str(source), self.bucket, key)

    def get(self, key: str, destination: Path) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.download_file(self.bucket, key, str(destination))
        except ClientError as exc:
            raise BackupError(
                f"no snapshot {key} in {self.description}: `invoke restore --list` shows them"
            ) from exc

    def snapshots(self) -> list[Snapshot]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        found = (parse_key(o["Key"], o["Size"]) for page in pages for o in page.get("Contents", []))
        return sorted((s for s in found if s), key=lambda s: s.taken_at)

    def read_request(self) -> dict[str, Any] | None:
        key = self.prefix + REQUEST_NAME
        # Listed first: the task role may list only under its prefix, so a GetObject of a missing key would be
        # answered 403, not 404 (S3 answers 404 only to callers who may list the bucket).
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        if not any(o["Key"] == key for o in listed.get("Contents", [])):
            return None
        return json.loads(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def write_request(self, request: dict[str, Any]) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.prefix + REQUEST_NAME, Body=json.dumps(request).encode()
        )

    def delete_request(self) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + REQUEST_NAME)


def store_for(settings: BackupSettings) -> SnapshotStore | None:
    """Where this app's snapshots go, or None when the database is not an SQLite file."""
    database = settings.database_path
    if database is None:
        return None
    if settings.backup_bucket:
        return S3Store(settings.backup_bucket, settings.backup_prefix)
    return DirectoryStore(Path(settings.backup_dir) if settings.backup_dir else database.parent / "backups")


def required_tables() -> set[str]:
    from app.models import Base

    return {*Base.metadata.tables, "alembic_version"}


def check_snapshot(path: Path) -> str:
    """Refuse (BackupError, one line) all but a sound SQLite database of this app; return its revision."""
    with path.open("rb") as file:
        if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError("not an SQLite database")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            verdict = [row[0] for row in connection.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as exc:
            verdict = [str(exc)]
        if verdict != ["ok"]:
            raise BackupError(f"the file fails PRAGMA quick_check ({verdict[0]})")
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = sorted(required_tables() - tables)
        revision = (
            None if missing else connection.execute("SELECT version_num FROM alembic_version").fetchone()
        )
    finally:
        connection.close()
    if missing:
        raise BackupError(f"not a database of this app (no table {', '.join(missing)})")
    if revision is None:
        raise BackupError("not a database of this app (alembic_version is empty)")
    from alembic.script import ScriptDirectory

    from app.migrate import alembic_config

    try:
        ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision[0])
    except Exception:  # alembic raises several types for an unknown id
        raise BackupError(f"made by another version of the app (unknown revision {revision[0]})") from None
    return revision[0]


def vacuum_into(database: Path, target: Path) -> None:
    """Snapshot a database no process holds (locally, with the API stopped)."""
    connection = sqlite3.connect(database, timeout=0.5)
    try:
        connection.execute("VACUUM INTO ?", (str(target),))
    except sqlite3.OperationalError as exc:
        raise BackupError(f"cannot read {database}: {exc}") from None
    finally:
        connection.close()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Backups:
    """Snapshots of the app's database through its own engine, kept in `store`."""

    def __init__(self, engine: AsyncEngine, store: SnapshotStore, prefix: str = "") -> None:
        self.engine = engine
        self.store = store
        self.prefix = prefix
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

    @staticmethod
    async def _changes_on(connection: Any) -> tuple[int, int]:
        # A new connection restarts SQLite's counter: the connection's identity is part of the fingerprint.
        raw = await connection.get_raw_connection()
        total = (await connection.exec_driver_sql("SELECT total_changes()")).scalar_one()
        return id(raw.dbapi_connection), total

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
        return None

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except Exception:  # a failed snapshot must not stop the schedule or the API
                log.exception("scheduled snapshot failed; the next tick tries again")


@asynccontextmanager
async def scheduled_backups(engine: AsyncEngine) -> AsyncIterator[Backups | None]:
    """Backups for the app's lifetime: the schedule, and a last snapshot on shutdown if anything changed."""
    # The engine's database, not DATABASE_URL's: an app can be made with other settings (tests do).
    settings = BackupSettings(database_url=engine.url.render_as_string(hide_password=False))
    store = store_for(settings)
    if store is None or engine.dialect.name != "sqlite":
        yield None
        return
    backups = Backups(engine, store, settings.backup_prefix if settings.backup_bucket else "")
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
    settings: BackupSettings | None = None, now: Callable[[], datetime] = utcnow
) -> str | None:
    """At start, before anything opens the database: carry out a restore request if there is one.

    Returns the line to log (None without a request). A refused snapshot leaves the live database untouched.
    """
    settings = settings or BackupSettings()
    store = store_for(settings)
    database = settings.database_path
    if store is None or database is None:
        return None
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
