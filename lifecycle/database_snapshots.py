"""`invoke backup` and `invoke restore` in the PostgreSQL mode: RDS snapshots, restored through the stack.

- backup: CreateDBSnapshot of the stack's instance, named `<instance>-<UTC time>`, waited for until RDS says
  it is available (minutes on AWS; the snapshot goes on if the wait is interrupted).
- restore --list: the manual and automated snapshots of this project's instances, the current one and the
  ones earlier restores replaced, and the current instance's point-in-time window.
- restore: the chosen snapshot becomes the app stack's `DatabaseSnapshot` parameter, with a new
  `DatabaseInstance` identifier (troposphere_templates/postgres.py). The stack update creates the new instance
  from the snapshot, moves the tasks to it, then takes a final snapshot of the old instance and deletes it.
  An automated snapshot is first copied to a manual one: CloudFormation deletes an instance's automated
  snapshots with the instance, and the stack must go on naming the snapshot its instance came from.

Calls: rds:DescribeDBInstances, rds:DescribeDBSnapshots, rds:CreateDBSnapshot, rds:CopyDBSnapshot,
rds:AddTagsToResource, and the stack update (cloudformation:CreateChangeSet and friends, as deploy-image),
which CloudFormation carries out with the role the stack was deployed with.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from app.snapshots import Snapshot, utcnow
from lifecycle.aws import Aws, poll_interval
from lifecycle.backups import age, choose, confirm, when
from lifecycle.deploy import keep_all_but
from lifecycle.errors import LifecycleError
from lifecycle.progress import Progress
from lifecycle.stacks import Outcome, Stacks
from troposphere_templates.config import ProjectConfig
from troposphere_templates.postgres import INSTANCE_OUTPUT, INSTANCE_PARAMETER, SNAPSHOT_PARAMETER

# A copy of an automated snapshot is named after it: rds:ecs1-db-2026-11-28-03-10 -> ecs1-db-...-03-10-copy
COPY_SUFFIX = "-copy"
MAX_INSTANCE_ID = 63
# `<identifier>-r<UTC time to the second>`: the name `restore` gives a new instance (restored_identifier).
RESTORED_SUFFIX = r"(-r\d{14})?"
RESTORED_TIME = "%Y%m%d%H%M%S"


@dataclass
class DbSnapshot:
    identifier: str
    instance: str
    kind: str  # "manual" or "automated"
    status: str  # "available", "creating", ...
    taken_at: datetime
    gib: int

    def as_snapshot(self) -> Snapshot:
        """In the shape `lifecycle.backups.choose` picks from (key, time, size)."""
        return Snapshot(self.identifier, self.taken_at, self.gib)


def _snapshot(raw: dict[str, Any]) -> DbSnapshot:
    return DbSnapshot(
        identifier=raw["DBSnapshotIdentifier"],
        instance=raw.get("DBInstanceIdentifier", ""),
        kind=raw.get("SnapshotType", "manual"),
        status=raw.get("Status", ""),
        # A snapshot still being created has no SnapshotCreateTime yet: it sorts as now.
        taken_at=(
            raw.get("SnapshotCreateTime") or raw.get("OriginalSnapshotCreateTime") or utcnow()
        ).astimezone(UTC),
        gib=int(raw.get("AllocatedStorage", 0)),
    )


def instance_of(outputs: dict[str, str], config: ProjectConfig) -> str:
    instance = outputs.get(INSTANCE_OUTPUT, "")
    if not instance:
        raise LifecycleError(f"{config.app_stack} runs SQLite, not PostgreSQL: it has no RDS instance")
    return instance


def ours(config: ProjectConfig, instance: str) -> bool:
    """The stack's instances: `<project>-db` and the `<project>-db-r<time>` restores named after it."""
    return re.fullmatch(re.escape(config.db_instance_identifier) + RESTORED_SUFFIX, instance) is not None


def snapshots(config: ProjectConfig, aws: Aws) -> list[DbSnapshot]:
    """Every manual and automated snapshot of the project's instances, oldest first."""
    rds = aws.client("rds")
    found: list[DbSnapshot] = []
    for kind in ("manual", "automated"):
        for page in rds.get_paginator("describe_db_snapshots").paginate(SnapshotType=kind):
            found += [_snapshot(raw) for raw in page["DBSnapshots"]]
    return sorted((s for s in found if ours(config, s.instance)), key=lambda s: s.taken_at)


def describe_instance(aws: Aws, instance: str) -> dict[str, Any]:
    try:
        return aws.client("rds").describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "DBInstanceNotFound":
            raise LifecycleError(
                f"the stack's RDS instance {instance} does not exist: run `invoke status`"
            ) from None
        raise


def wait_available(
    aws: Aws, identifier: str, progress: Progress, poll_seconds: float, label: str
) -> DbSnapshot:
    rds = aws.client("rds")
    poll_seconds = poll_interval(aws, poll_seconds)
    started = time.monotonic()
    while True:
        (raw,) = rds.describe_db_snapshots(DBSnapshotIdentifier=identifier)["DBSnapshots"]
        snapshot = _snapshot(raw)
        if snapshot.status == "available":
            progress.done()
            return snapshot
        if snapshot.status not in ("creating", "copying", "pending"):
            progress.done()
            raise LifecycleError(f"snapshot {identifier} is {snapshot.status}, not available")
        percent = raw.get("PercentProgress")
        progress.status(f"{label}: {snapshot.status}{f' {percent}%' if percent is not None else ''}", started)
        time.sleep(poll_seconds)


def backup(
    config: ProjectConfig,
    aws: Aws,
    outputs: dict[str, str],
    progress: Progress | None = None,
    poll_seconds: float = 5.0,
) -> str:
    """A manual snapshot of the stack's instance, now; it is kept until deleted (even by `invoke clean`)."""
    progress = progress or Progress()
    instance = instance_of(outputs, config)
    identifier = f"{instance}-{utcnow():%Y%m%d-%H%M%S}"
    progress.line(f"snapshot of RDS instance {instance}: {identifier}")
    aws.client("rds").create_db_snapshot(
        DBSnapshotIdentifier=identifier,
        DBInstanceIdentifier=instance,
        Tags=[{"Key": "project", "Value": config.project}],
    )
    taken = wait_available(aws, identifier, progress, poll_seconds, f"snapshot {identifier}")
    return (
        f"snapshot {identifier} of {instance} ({taken.gib} GiB) is available; "
        f"`invoke restore --key {identifier}` restores it"
    )


def listing(config: ProjectConfig, aws: Aws, outputs: dict[str, str]) -> str:
    instance = instance_of(outputs, config)
    found = snapshots(config, aws)
    described = describe_instance(aws, instance)
    rows = [
        f"{when(s.taken_at)}  {s.kind:<9}  {s.gib:>4} GiB  {s.identifier}"
        + ("" if s.status == "available" else f"  ({s.status})")
        + ("" if s.instance == instance else f"  (of {s.instance})")
        for s in reversed(found)
    ]
    latest = described.get("LatestRestorableTime")
    window = (
        f"; RDS can also restore {instance} to any second up to {when(latest)} "
        f"({described.get('BackupRetentionPeriod', 0)} days back) in the console, as a separate instance"
        if latest
        else ""
    )
    if not found:
        return f"no snapshots of {config.db_instance_identifier}* yet{window}"
    return "\n".join([*rows, f"{len(found)} snapshot(s) of {instance}, newest first{window}"])


def restored_identifier(config: ProjectConfig, now: datetime) -> str:
    identifier = f"{config.db_instance_identifier}-r{now.strftime(RESTORED_TIME)}"
    if len(identifier) > MAX_INSTANCE_ID:
        raise LifecycleError(
            f"the restored instance's identifier {identifier} is longer than RDS's {MAX_INSTANCE_ID} "
            "characters: use a shorter project name"
        )
    return identifier


def what_is_lost(chosen: DbSnapshot, instance: str, new_instance: str, now: datetime) -> str:
    return "\n".join(
        [
            f"restore {chosen.kind} snapshot {chosen.identifier}, taken {when(chosen.taken_at)} "
            f"({age(chosen.taken_at, now)}), into a new RDS instance {new_instance}.",
            "Lost from the live database: every write after that moment.",
            f"  They are not gone: CloudFormation takes a final snapshot of {instance} before it deletes it "
            "(its automated snapshots and point-in-time window go with it; manual snapshots stay).",
            f"  Until the new tasks run (an RDS restore takes 10-30 minutes), the API keeps serving from "
            f"{instance}; writes made meanwhile are only in its final snapshot.",
        ]
    )


def _keep_manual(
    aws: Aws, chosen: DbSnapshot, config: ProjectConfig, progress: Progress, poll_seconds: float
) -> str:
    """The manual snapshot to restore: the chosen one, or a manual copy of an automated one."""
    if chosen.kind == "manual":
        return chosen.identifier
    copy = chosen.identifier.removeprefix("rds:") + COPY_SUFFIX
    rds = aws.client("rds")
    try:
        rds.copy_db_snapshot(
            SourceDBSnapshotIdentifier=chosen.identifier,
            TargetDBSnapshotIdentifier=copy,
            Tags=[{"Key": "project", "Value": config.project}],
        )
        progress.line(f"copying automated snapshot {chosen.identifier} to the manual snapshot {copy}")
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "DBSnapshotAlreadyExists":
            raise
        progress.line(f"manual copy {copy} of {chosen.identifier} exists already: restoring it")
    wait_available(aws, copy, progress, poll_seconds, f"copy {copy}")
    return copy


def restore(
    config: ProjectConfig,
    aws: Aws,
    outputs: dict[str, str],
    at: str = "",
    key: str = "",
    yes: bool = False,
    progress: Progress | None = None,
    poll_seconds: float = 5.0,
) -> str:
    """Restore a snapshot (by `key`, the newest at or before `at`, or the newest) into a new instance that
    replaces the stack's, after saying what is lost and asking."""
    progress = progress or Progress()
    now = utcnow()
    instance = instance_of(outputs, config)
    available = [s for s in snapshots(config, aws) if s.status == "available"]
    picked = choose([s.as_snapshot() for s in available], at, key, now)
    chosen = next(s for s in available if s.identifier == picked.key)
    new_instance = restored_identifier(config, now)
    confirm(what_is_lost(chosen, instance, new_instance, now), yes)

    source = _keep_manual(aws, chosen, config, progress, poll_seconds)

    def restorable(running: dict[str, str]) -> None:
        if SNAPSHOT_PARAMETER not in running:
            raise LifecycleError(
                f"{config.app_stack} predates restores (no {SNAPSHOT_PARAMETER} parameter): deploy this "
                "version first (`invoke deploy --database postgres`)"
            )

    values = keep_all_but({SNAPSHOT_PARAMETER: source, INSTANCE_PARAMETER: new_instance}, {}, restorable)

    progress.line(f"{config.app_stack}: restoring {source} into {new_instance}")
    try:
        result = Stacks(aws, progress, poll_seconds=poll_seconds).deploy(
            config.app_stack, None, values, {}, create=False
        )
    except LifecycleError as exc:
        raise LifecycleError(
            f"restore of {source} failed; CloudFormation rolls the stack back to {instance}, which keeps "
            f"serving; `invoke restore --key {source}` tries again ({exc})"
        ) from None
    if result.outcome == Outcome.ABSENT:
        raise LifecycleError(f"no stack {config.app_stack}: deploy it first (`invoke deploy`)")
    return (
        f"restored {source} into {new_instance} in {result.seconds:.0f}s; the service runs on it, and "
        f"{instance} was deleted after its final snapshot"
    )
