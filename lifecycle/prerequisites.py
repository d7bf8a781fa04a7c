"""What the stacks need before they exist and outlive them: the ECR repository and the artifact bucket."""

from __future__ import annotations

import json
from dataclasses import dataclass

from botocore.exceptions import ClientError

from lifecycle.aws import Aws
from lifecycle.errors import LifecycleError
from troposphere_templates.config import IMAGE_TARGETS, image_tag_prefix

# S3's DeleteObjects and ECR's BatchDeleteImage limits per call.
S3_DELETE_BATCH = 1000
ECR_DELETE_BATCH = 100


# Each commit pushes two images and storage is billed per GB-month: old ones expire, enough stay to roll back.
KEEP_IMAGES = 20
IMAGE_LIFECYCLE_POLICY = {
    "rules": [
        {
            "rulePriority": priority,
            "description": f"keep the {KEEP_IMAGES} newest {image_tag_prefix(target)}* images",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": [image_tag_prefix(target)],
                "countType": "imageCountMoreThan",
                "countNumber": KEEP_IMAGES,
            },
            "action": {"type": "expire"},
        }
        for priority, target in enumerate(IMAGE_TARGETS, start=1)
    ]
    + [
        {
            "rulePriority": len(IMAGE_TARGETS) + 1,
            "description": "untagged layers left by re-pushes",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        }
    ]
}


@dataclass(frozen=True)
class Removal:
    """What a delete did to one resource: `resource` names it ("bucket x"), `detail` what went with it."""

    resource: str
    deleted: bool
    detail: str = ""

    def __str__(self) -> str:
        if not self.deleted:
            return f"nothing to delete: no {self.resource}"
        return f"deleted {self.resource}{self.detail}"


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def ensure_repository(aws: Aws, name: str, tags: dict[str, str]) -> str:
    """Create the ECR repository (scan on push, immutable tags) if missing; return what was done."""
    ecr = aws.client("ecr")
    try:
        ecr.describe_repositories(repositoryNames=[name])
        return f"ECR repository {name}: exists"
    except ClientError as exc:
        if _code(exc) != "RepositoryNotFoundException":
            raise
    # Immutable tags: a tag is a commit sha, so the image a stack names can never change under it.
    ecr.create_repository(
        repositoryName=name,
        imageScanningConfiguration={"scanOnPush": True},
        imageTagMutability="IMMUTABLE",
        encryptionConfiguration={"encryptionType": "AES256"},
        tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    )
    ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(IMAGE_LIFECYCLE_POLICY))
    kept = f"keeps {KEEP_IMAGES} images of each kind"
    return f"ECR repository {name}: created (scan on push, immutable tags, {kept})"


def missing_image_tags(aws: Aws, repository: str, tags: list[str]) -> list[str]:
    ecr = aws.client("ecr")
    present: set[str] = set()
    for page in ecr.get_paginator("list_images").paginate(
        repositoryName=repository, filter={"tagStatus": "TAGGED"}
    ):
        present.update(image["imageTag"] for image in page["imageIds"] if "imageTag" in image)
    return [tag for tag in tags if tag not in present]


def tags_immutable(aws: Aws, repository: str) -> bool:
    found = aws.client("ecr").describe_repositories(repositoryNames=[repository])["repositories"]
    return found[0].get("imageTagMutability", "MUTABLE").startswith("IMMUTABLE")


def bucket_exists(aws: Aws, bucket: str) -> bool:
    try:
        aws.client("s3").head_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        if _code(exc) in ("403", "Forbidden", "AccessDenied"):
            # Bucket names are global: the name may be another account's.
            raise LifecycleError(
                f"bucket {bucket} exists but these credentials cannot use it (another account's?): "
                "pass --artifact-bucket with a name of your own"
            ) from None
        raise


def ensure_bucket(aws: Aws, bucket: str, tags: dict[str, str]) -> str:
    """Create the artifact bucket if missing; versioned, encrypted, never public."""
    s3 = aws.client("s3")
    existed = bucket_exists(aws, bucket)
    if not existed:
        # us-east-1 is the one region that rejects an explicit LocationConstraint.
        location = (
            {}
            if aws.region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": aws.region}}
        )
        s3.create_bucket(Bucket=bucket, **location)
        s3.put_bucket_tagging(
            Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
        )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    state = "exists" if existed else "created"
    return f"artifact bucket {bucket}: {state} (versioned, encrypted, public access blocked)"


def delete_repository(aws: Aws, name: str) -> Removal:
    """Delete every image, then the repository."""
    ecr = aws.client("ecr")
    deleted: set[str] = set()
    # Listed again after each pass: an image pushed meanwhile (or an emulator that deletes one tag of a digest
    # at a time) would otherwise make DeleteRepository fail with RepositoryNotEmptyException.
    for _ in range(10):
        try:
            images = [
                image_id
                for page in ecr.get_paginator("list_images").paginate(repositoryName=name)
                for image_id in page["imageIds"]
            ]
        except ClientError as exc:
            if _code(exc) == "RepositoryNotFoundException":
                return Removal(f"ECR repository {name}", deleted=False)
            raise
        digests = sorted({image["imageDigest"] for image in images if "imageDigest" in image})
        if not digests:
            break
        for start in range(0, len(digests), ECR_DELETE_BATCH):
            batch = [{"imageDigest": digest} for digest in digests[start : start + ECR_DELETE_BATCH]]
            ecr.batch_delete_image(repositoryName=name, imageIds=batch)
        deleted.update(digests)
    ecr.delete_repository(repositoryName=name)
    return Removal(f"ECR repository {name}", deleted=True, detail=f" and its {len(deleted)} image(s)")


def delete_bucket(aws: Aws, bucket: str) -> Removal:
    """Delete every object version and delete marker (page by page), then the bucket."""
    s3 = aws.client("s3")
    if not bucket_exists(aws, bucket):
        return Removal(f"bucket {bucket}", deleted=False)
    versions = markers = 0
    # Always list from the start: deleting behind a pagination marker can make the next page skip entries.
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=S3_DELETE_BATCH)
        page_versions = page.get("Versions", [])
        page_markers = page.get("DeleteMarkers", [])
        targets = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page_versions + page_markers]
        if not targets:
            break
        for start in range(0, len(targets), S3_DELETE_BATCH):
            batch = targets[start : start + S3_DELETE_BATCH]
            errors = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True}).get(
                "Errors", []
            )
            if errors:
                first = errors[0]
                raise LifecycleError(
                    f"bucket {bucket}: could not delete {len(errors)} object version(s), "
                    f"first {first.get('Key')}: {first.get('Code')} {first.get('Message', '')}".rstrip()
                )
        versions += len(page_versions)
        markers += len(page_markers)
    s3.delete_bucket(Bucket=bucket)
    detail = f" ({versions} object version(s), {markers} delete marker(s))"
    return Removal(f"bucket {bucket}", deleted=True, detail=detail)
