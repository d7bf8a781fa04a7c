"""`invoke backup` and `invoke restore`, on the deployed stack or locally on ./data (app/backup.py works).

On AWS the database is on EFS, held by the one running task, so both go through the task:
- backup: `POST /admin/backups` through the API's URL as the bootstrap admin, whose user name is a stack
  parameter and whose password is in the stack's Secrets Manager secret (read with the caller's own rights);
- restore: the chosen snapshot is checked here first, then a restore request is left beside the snapshots in
  the backup bucket and ECS replaces the task (`UpdateService` with forceNewDeployment); the new task carries
  the request out before it opens the database (app/server.py). Only documented S3, Secrets Manager, ECS and
  CloudFormation calls, with the rights that deploy already needs.
Locally, with the API stopped the snapshot is taken from the file; with it running (it holds the file
exclusively) through its `POST /admin/backups` as the admin in ADMIN_USERNAME / ADMIN_PASSWORD.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from app.snapshots import (
    ON_DEMAND_TIER,
    BackupError,
    DirectoryStore,
    S3Store,
    Snapshot,
    SnapshotStore,
    check_snapshot,
    snapshot_key,
    utcnow,
    vacuum_into,
)
from lifecycle.aws import Aws
from lifecycle.errors import LifecycleError
from lifecycle.progress import Progress
from lifecycle.stacks import Stacks, stack_outputs
from troposphere_templates.backups import BACKUP_PREFIX
from troposphere_templates.backups import OUTPUT as BACKUP_BUCKET_OUTPUT
from troposphere_templates.config import ProjectConfig
from troposphere_templates.postgres import INSTANCE_OUTPUT

HTTP_TIMEOUT = 60
RELATIVE = re.compile(r"^(\d+)([mhd])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(moment: datetime, now: datetime) -> str:
    minutes = int((now - moment).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"]
    return " ".join(parts[:2]) + " ago"


def parse_time(text: str, now: datetime) -> datetime:
    """`2026-11-28T07:00` (UTC unless it says otherwise), or a time ago: `90m`, `6h`, `2d`."""
    relative = RELATIVE.match(text.strip())
    if relative:
        return now - timedelta(**{UNITS[relative[2]]: int(relative[1])})
    try:
        moment = datetime.fromisoformat(text.strip().replace(" ", "T").removesuffix("Z"))
    except ValueError:
        raise LifecycleError(
            f"--at {text!r}: give a UTC time like 2026-11-28T07:00 or an age like 6h"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def choose(snapshots: list[Snapshot], at: str = "", key: str = "", now: datetime | None = None) -> Snapshot:
    """The snapshot named by `key`, else the newest taken at or before `at`, else the newest."""
    now = now or utcnow()
    if not snapshots:
        raise LifecycleError("there is no snapshot yet: take one with `invoke backup`")
    if key:
        for snapshot in snapshots:
            if snapshot.key == key:
                return snapshot
        raise LifecycleError(f"no snapshot with key {key}: `invoke restore --list` shows them")
    if at:
        moment = parse_time(at, now)
        earlier = [s for s in snapshots if s.taken_at <= moment]
        if not earlier:
            raise LifecycleError(
                f"no snapshot at or before {when(moment)}: the oldest is {when(snapshots[0].taken_at)}"
            )
        return earlier[-1]
    return snapshots[-1]


def what_is_lost(chosen: Snapshot, snapshots: list[Snapshot], now: datetime) -> str:
    newer = [s for s in snapshots if s.taken_at > chosen.taken_at]
    lines = [
        f"restore {chosen.key}, taken {when(chosen.taken_at)} ({age(chosen.taken_at, now)}).",
        "Lost: every write acknowledged after that moment.",
    ]
    if newer:
        lines.append(
            f"  {len(newer)} newer snapshot(s) prove writes until at least {when(newer[-1].taken_at)} "
            "(snapshots are taken only when the database changed); they stay available."
        )
    lines.append(
        "  Writes after the newest snapshot are in no snapshot; the replaced database file is kept beside "
        "the new one (app.db.before-restore-<time>)."
    )
    return "\n".join(lines)


def confirm(summary: str, yes: bool, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    stdout.write(summary + "\n")
    if yes:
        return
    if not stdin.isatty():
        raise LifecycleError("nothing restored: no terminal to ask on; pass --yes")
    stdout.write("Type 'yes' to restore: ")
    stdout.flush()
    if stdin.readline().strip().lower() != "yes":
        raise LifecycleError("nothing restored: not confirmed")


def checked(store: SnapshotStore, snapshot: Snapshot) -> str:
    """Fetch the snapshot and refuse it (one line) unless it is a sound database of this app."""
    with tempfile.TemporaryDirectory(prefix="restore-check-") as folder:
        copy = Path(folder) / "snapshot.sqlite3"
        try:
            store.get(snapshot.key, copy)
            return check_snapshot(copy)
        except BackupError as exc:
            raise LifecycleError(f"refusing to restore {snapshot.key}: {exc}; nothing was changed") from None


def listing(store: SnapshotStore) -> str:
    snapshots = store.snapshots()
    if not snapshots:
        return f"no snapshots in {store.description}"
    rows = [f"{when(s.taken_at)}  {s.size:>12,} bytes  {s.key}" for s in reversed(snapshots)]
    return "\n".join([*rows, f"{len(snapshots)} snapshot(s) in {store.description}, newest first"])


def request_restore(store: SnapshotStore, at: str, key: str, yes: bool, now: datetime) -> Snapshot:
    snapshots = store.snapshots()
    chosen = choose(snapshots, at, key, now)
    revision = checked(store, chosen)
    confirm(what_is_lost(chosen, snapshots, now) + f"\n  (schema revision {revision})", yes)
    store.write_request({"key": chosen.key, "requested_at": now.isoformat()})
    return chosen


# Local: ./data


def local_store(database: Path, backup_dir: str = "") -> DirectoryStore:
    return DirectoryStore(Path(backup_dir) if backup_dir else database.parent / "backups")


def backup_local(database: Path, store: DirectoryStore, url: str, admin: tuple[str, str] | None) -> str:
    if not database.exists():
        raise LifecycleError(f"no database at {database}: start the API once (`invoke serve`) or migrate")
    now = utcnow()
    key = snapshot_key("", ON_DEMAND_TIER, now)
    with tempfile.TemporaryDirectory(prefix="snapshot-") as folder:
        target = Path(folder) / "snapshot.sqlite3"
        try:
            vacuum_into(database, target)
        except BackupError as exc:
            if "locked" not in str(exc):
                raise LifecycleError(str(exc)) from None
            if admin is None:
                raise LifecycleError(
                    f"the running API holds {database}: set ADMIN_USERNAME and ADMIN_PASSWORD to its admin's "
                    "so the snapshot goes through it, or stop it"
                ) from None
            taken = take_through_api(url, *admin)
            return f"snapshot {taken['key']} ({taken['bytes']:,} bytes) taken by the API at {url}"
        store.put(target, key)
        size = target.stat().st_size
    return f"snapshot {key} ({size:,} bytes) in {store.description}"


def restore_local(store: DirectoryStore, at: str, key: str, yes: bool) -> str:
    chosen = request_restore(store, at, key, yes, utcnow())
    return (
        f"restore of {chosen.key} requested: it happens when the API next starts "
        "(restart `invoke serve` or `python -m app.server`)"
    )


# AWS: the deployed stack


def _http(url: str, data: bytes, headers: dict[str, str]) -> dict:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310 (https URL)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:200].decode(errors="replace")
        raise LifecycleError(f"{url} answered {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise LifecycleError(f"cannot reach {url}: {exc.reason}") from None


def take_through_api(base_url: str, user: str, password: str) -> dict:
    base = base_url.rstrip("/")
    form = urllib.parse.urlencode({"username": user, "password": password}).encode()
    token = _http(f"{base}/auth/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
    return _http(f"{base}/admin/backups", b"", {"Authorization": f"Bearer {token['access_token']}"})


def deployed(config: ProjectConfig, aws: Aws) -> tuple[dict[str, str], dict[str, str]]:
    """The app stack's outputs and parameters; one line if it is not deployed."""
    stack = Stacks(aws, Progress()).describe(config.app_stack)
    if stack is None:
        raise LifecycleError(f"no stack {config.app_stack}: deploy it first (`invoke deploy`)")
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    return stack_outputs(stack), parameters


def runs_postgres(outputs: dict[str, str]) -> bool:
    """The PostgreSQL mode's stack names its RDS instance; its backups are RDS snapshots
    (lifecycle/database_snapshots.py)."""
    return INSTANCE_OUTPUT in outputs


def with_bucket(config: ProjectConfig, outputs: dict[str, str]) -> dict[str, str]:
    """The SQLite mode's outputs, once the stack has its backup bucket; one line if it predates backups."""
    if BACKUP_BUCKET_OUTPUT not in outputs:
        raise LifecycleError(
            f"{config.app_stack} has no backup bucket yet: deploy this version (`invoke deploy`)"
        )
    return outputs


def remote_store(aws: Aws, outputs: dict[str, str]) -> S3Store:
    return S3Store(outputs[BACKUP_BUCKET_OUTPUT], BACKUP_PREFIX, aws.client("s3"))


def backup_remote(config: ProjectConfig, aws: Aws, url: str = "") -> str:
    """`url` overrides the stack's API URL (a custom domain in front of it, say)."""
    outputs, parameters = deployed(config, aws)
    if runs_postgres(outputs):
        from lifecycle import database_snapshots

        return database_snapshots.backup(config, aws, outputs)
    with_bucket(config, outputs)
    secret = aws.client("secretsmanager").get_secret_value(SecretId=outputs["AdminPasswordSecretArn"])
    user = parameters.get("AdminUsername") or config.admin_username
    try:
        taken = take_through_api(url or outputs["ApiUrl"], user, secret["SecretString"])
    except LifecycleError as exc:
        raise LifecycleError(
            f"{exc} (as the bootstrap admin {user}; changed its password? use the API)"
        ) from None
    return f"snapshot {taken['key']} ({taken['bytes']:,} bytes) in s3://{outputs[BACKUP_BUCKET_OUTPUT]}/"


def list_remote(config: ProjectConfig, aws: Aws) -> str:
    outputs, _ = deployed(config, aws)
    if runs_postgres(outputs):
        from lifecycle import database_snapshots

        return database_snapshots.listing(config, aws, outputs)
    return listing(remote_store(aws, with_bucket(config, outputs)))


def restore_remote(config: ProjectConfig, aws: Aws, at: str, key: str, yes: bool) -> str:
    outputs, _ = deployed(config, aws)
    if runs_postgres(outputs):
        from lifecycle import database_snapshots

        return database_snapshots.restore(config, aws, outputs, at, key, yes)
    with_bucket(config, outputs)
    chosen = request_restore(remote_store(aws, outputs), at, key, yes, utcnow())
    aws.client("ecs").update_service(
        cluster=outputs["ClusterName"], service=outputs["ServiceName"], forceNewDeployment=True
    )
    return (
        f"restore of {chosen.key} requested; ECS is replacing the task, which restores it before it opens "
        f"the database (its log says so: log group {outputs.get('ApiLogGroup', config.log_groups['api'])})"
    )


# `invoke clean`: the bucket outlives its stack (DeletionPolicy Retain); clean deletes it unless told not to


def backups_plan(bucket: str, keep: bool) -> str:
    if not bucket:
        return ""
    if keep:
        return f"; it keeps the database snapshots in the bucket {bucket} (--keep-backups)"
    return f", and the database snapshots: the bucket {bucket} with every version (--keep-backups keeps them)"


def kept_backups(bucket: str) -> str:
    return (
        f"; and, as asked, the snapshots in bucket {bucket} (to restore one after a new deploy, copy it "
        f"into the new backup bucket under {BACKUP_PREFIX}daily/ and run `invoke restore --key`; to delete "
        "them, Empty then Delete the bucket in the S3 console)"
    )
