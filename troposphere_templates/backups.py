"""The backup bucket of the application stack: the API's SQLite snapshots (app/backup.py), expired by tier.

Encrypted (SSE-S3), versioned, never public, TLS only. Snapshots expire by key prefix as `RETENTION_DAYS`
says (hourly 7 days, daily 30 days); an overwritten or deleted object's old version is kept
`NONCURRENT_DAYS` more, so a mistaken delete can be undone for a week. The bucket outlives its stack
(DeletionPolicy Retain): `invoke clean` empties and deletes it unless asked to keep the backups.
"""

from __future__ import annotations

from typing import Any

from troposphere import GetAtt, Ref, encode_to_dict, iam, s3

from app.backup import RETENTION_DAYS
from troposphere_templates import policies

BACKUP_PREFIX = "backups/"
NONCURRENT_DAYS = 7
LOGICAL_ID = "BackupBucket"

CHECKOV_SKIPS = [
    ("CKV_AWS_18", "access logs need a second bucket; the task role is the only writer of snapshots"),
    ("CKV_AWS_144", "one region by design; a replica doubles the cost of a few-dollar service"),
    ("CKV_AWS_145", "SSE-S3 encrypts at rest; a customer managed key adds $1/month and no gain here"),
    ("CKV2_AWS_62", "nothing reacts to new snapshots; notifications would have no consumer"),
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
