"""`invoke clean`: everything deploy made, in docs/DESIGN.md's order, from any state, as often as asked."""

from __future__ import annotations

from lifecycle.aws import Aws
from lifecycle.backups import backups_plan, kept_backups
from lifecycle.confirm import confirm
from lifecycle.prerequisites import delete_bucket, delete_repository
from lifecycle.progress import Progress
from lifecycle.stacks import Outcome, Stacks
from troposphere_templates.backups import OUTPUT as BACKUP_BUCKET_OUTPUT
from troposphere_templates.config import ProjectConfig
from troposphere_templates.postgres import INSTANCE_OUTPUT

CONNECTION_BY_HAND = "the CodeConnections GitHub connection you created by hand"


def plan(config: ProjectConfig, bucket: str, backups: str = "", database: str = "") -> str:
    """`database`: the PostgreSQL mode's RDS instance, whose data outlives the stack in a final snapshot."""
    stacks = ", ".join([config.app_stack, *config.pipeline_stacks.values()])
    data = (
        f"the RDS instance {database} leaves a final snapshot, which stays"
        if database
        else f"the API data on EFS goes with {config.app_stack}"
    )
    return (
        f"this deletes the stacks {stacks} ({data}), "
        f"the ECR repository {config.ecr_repository} with all its images, "
        f"and the bucket {bucket} with every object version{backups}"
    )


def connection_of(stacks: Stacks, config: ProjectConfig) -> str:
    """The GitHub connection's ARN from the options, else from a pipeline stack's parameters."""
    if config.connection_arn:
        return config.connection_arn
    for name in config.pipeline_stacks.values():
        for parameter in (stacks.describe(name) or {}).get("Parameters", []):
            if "Connection" in parameter["ParameterKey"] and parameter.get("ParameterValue"):
                return parameter["ParameterValue"]
    return ""


def clean(
    config: ProjectConfig,
    aws: Aws,
    yes: bool = False,
    progress: Progress | None = None,
    poll_seconds: float = 3.0,
    keep_backups: bool = False,
) -> str:
    """Delete the app stack, the pipeline stacks, the repository and the bucket; return the closing line."""
    progress = progress or Progress()
    bucket = config.artifact_bucket_name(aws.account_id)
    stacks = Stacks(aws, progress, poll_seconds=poll_seconds)
    outputs = stacks.outputs(config.app_stack)
    snapshots = outputs.get(BACKUP_BUCKET_OUTPUT, "")
    database = outputs.get(INSTANCE_OUTPUT, "")
    confirm(plan(config, bucket, backups_plan(snapshots, keep_backups), database), yes, action="delete")
    connection = connection_of(stacks, config)
    deleted = []
    # The app stack first and waited for: a pipeline's role may be what CloudFormation needs to delete it.
    for name in [config.app_stack, *config.pipeline_stacks.values()]:
        result = stacks.delete(name)
        if result.outcome == Outcome.ABSENT:
            progress.line(f"nothing to delete: no stack {name}")
        else:
            progress.line(f"deleted stack {name} ({result.seconds:.1f}s)")
            deleted.append(f"stack {name}")
    removals = [delete_repository(aws, config.ecr_repository), delete_bucket(aws, bucket)]
    removals += [delete_bucket(aws, snapshots)] if snapshots and not keep_backups else []
    for removal in removals:
        progress.line(str(removal))
        if removal.deleted:
            deleted.append(removal.resource)
    what = ", ".join(deleted) if deleted else "nothing was left to delete"
    left = f"the GitHub connection {connection}" if connection else CONNECTION_BY_HAND
    kept = kept_backups(snapshots) if snapshots and keep_backups else ""
    if database:
        kept += (
            f"; and the RDS snapshots of {config.db_instance_identifier} (the final one and any taken by "
            "`invoke backup`; billed as snapshot storage until deleted in the RDS console)"
        )
    return f"clean complete: {what}; still there (delete it by hand in the console if unused): {left}{kept}"
