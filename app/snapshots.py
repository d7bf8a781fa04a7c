"""What a snapshot of the SQLite database is, where snapshots are kept, and which file may be restored.

A snapshot is a whole SQLite file under `<prefix><tier>/<UTC time>.sqlite3`: the first of each UTC day under
`daily/` (kept 30 days), the others under `hourly/` (kept 7 days); on AWS the bucket's lifecycle rules,
rendered from `RETENTION_DAYS`, expire them, locally nothing expires. They are kept in a folder
(`DirectoryStore`, locally `./data/backups/`) or in the application stack's bucket (`S3Store`), beside the
restore request that `invoke restore` leaves for the next start. `check_snapshot` refuses, with one line, any
file but a sound SQLite database of this app.

Light on purpose (no SQLAlchemy, no settings): the templates and the `invoke backup`, `restore` and `clean`
tasks use it without paying for the app's imports. Taking snapshots on a schedule and restoring at start:
app/backup.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

SQLITE_HEADER = b"SQLite format 3\x00"
SUFFIX = ".sqlite3"
TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"
REQUEST_NAME = "restore-request.json"
# Tier -> days its snapshots are kept (the bucket's lifecycle rules are rendered from this).
RETENTION_DAYS = {"hourly": 7, "daily": 30}
SECONDS_PER_DAY = 24 * 3600
DEFAULT_INTERVAL_SECONDS = 3600
ON_DEMAND_TIER = "daily"  # `invoke backup` keeps its snapshot as long as a daily one


class BackupError(Exception):
    """A snapshot or a restore that cannot be done; str() is one line a user can act on."""


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
