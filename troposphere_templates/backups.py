"""The backup bucket of the application stack: the API's SQLite snapshots (app/backup.py), expired by tier.

Encrypted (SSE-S3), versioned, never public, TLS only. Snapshots expire by key prefix as `RETENTION_DAYS`
says (hourly 7 days, daily 30 days); an overwritten or deleted object's old version is kept
`NONCURRENT_DAYS` more (an expired snapshot too: it is billed that much longer). The bucket outlives its stack
(DeletionPolicy Retain): `invoke clean` empties and deletes it unless asked to keep the backups.
"""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Ref, encode_to_dict, iam, s3

from app.snapshots import RETENTION_DAYS, snapshots_per_day
from troposphere_templates import policies

BACKUP_PREFIX = "backups/"
NONCURRENT_DAYS = 1
LOGICAL_ID = "BackupBucket"
# The app stack's output naming the bucket; `invoke backup`/`restore`/`clean` find the snapshots by it.
OUTPUT = "BackupBucket"

CHECKOV_SKIPS = [
    ("CKV_AWS_18", "access logs need a second bucket; the task role is the only writer of snapshots"),
]


def lifecycle_rules(prefix: str = BACKUP_PREFIX) -> list[s3.LifecycleRule]:
    expiring = [
        s3.LifecycleRule(
            Id=f"{tier}-snapshots-{days}-days",
            Status="Enabled",
            Prefix=f"{prefix}{tier}/",
            ExpirationInDays=days,
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=NONCURRENT_DAYS),
        )
        for tier, days in RETENTION_DAYS.items()
    ]
    # Versioning turns each delete (and expiry) into a delete marker: old versions and markers go too.
    tidy = s3.LifecycleRule(
        Id="old-versions-and-markers",
        Status="Enabled",
        Prefix=prefix,
        ExpiredObjectDeleteMarker=True,
        NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=NONCURRENT_DAYS),
        AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
    )
    return [*expiring, tidy]


def backup_bucket() -> s3.Bucket:
    """No BucketName: CloudFormation names it `<stack>-backupbucket-<random>`, so a stack made again after
    `invoke clean --keep-backups` never collides with the kept bucket."""
    return s3.Bucket(
        LOGICAL_ID,
        BucketEncryption=s3.BucketEncryption(
            ServerSideEncryptionConfiguration=[
                s3.ServerSideEncryptionRule(
                    ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256"),
                    BucketKeyEnabled=True,
                )
            ]
        ),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
        ),
        OwnershipControls=s3.OwnershipControls(
            Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
        ),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=lifecycle_rules()),
        Metadata={"checkov": {"skip": [{"id": i, "comment": c} for i, c in CHECKOV_SKIPS]}},
        DeletionPolicy="Retain",
        UpdateReplacePolicy="Retain",
    )


def tls_only_policy(bucket: s3.Bucket) -> s3.BucketPolicy:
    return s3.BucketPolicy(
        f"{LOGICAL_ID}Policy",
        Bucket=Ref(bucket),
        PolicyDocument=policies.deny_insecure_transport(GetAtt(bucket, "Arn")),
    )


def task_access(bucket: s3.Bucket, role: Any) -> iam.RolePolicy:
    """The task role's inline policy: its snapshot prefix only (app/backup.py's S3Store calls)."""
    return iam.RolePolicy(
        "TaskRoleBackupPolicy",
        RoleName=Ref(role),
        PolicyName="backup-snapshots",
        PolicyDocument=encode_to_dict(policies.backup_task_policy(GetAtt(bucket, "Arn"), BACKUP_PREFIX)),
    )


def backup_cost(resources: dict[str, Any], prices: dict[str, Any]) -> list[tuple[str, float]]:
    """(label, monthly) of the snapshots the bucket's lifecycle rules keep, written as often as possible."""
    items = []
    for bucket in (r for r in resources.values() if r.get("Type") == "AWS::S3::Bucket"):
        rules = bucket.get("Properties", {}).get("LifecycleConfiguration", {}).get("Rules", [])
        kept = sum(
            snapshots_per_day(rule["Prefix"].rstrip("/").rsplit("/", 1)[-1])
            * (
                rule["ExpirationInDays"]
                + rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays", 0)
            )
            for rule in rules
            if "ExpirationInDays" in rule
        )
        if not kept:
            continue
        gb, storage = prices["snapshot_gb"], prices["s3_standard_per_gb_month"]
        per_day = sum(snapshots_per_day(tier) for tier in RETENTION_DAYS)
        puts = round(prices["hours_per_month"] / 24 * per_day)
        items.append((f"S3 snapshots: {kept} kept x {gb:g} GB (assumed) x ${storage:g}", kept * gb * storage))
        put = prices["s3_put_per_1000"]
        items.append((f"S3 snapshot uploads: {puts} PUTs x ${put:g} per 1,000", puts * put / 1000))
    return items
