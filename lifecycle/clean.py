"""`invoke clean`: everything deploy made, in docs/DESIGN.md's order, from any state, as often as asked."""

from __future__ import annotations

from lifecycle.aws import Aws
from lifecycle.confirm import confirm
from lifecycle.prerequisites import delete_bucket, delete_repository
from lifecycle.progress import Progress
from lifecycle.stacks import Outcome, Stacks
from troposphere_templates.config import ProjectConfig

CONNECTION_BY_HAND = "the CodeConnections GitHub connection you created by hand"


def plan(config: ProjectConfig, bucket: str) -> str:
    stacks = ", ".join([config.app_stack, *config.pipeline_stacks.values()])
    return (
        f"this deletes the stacks {stacks} (the API data on EFS goes with {config.app_stack}), "
        f"the ECR repository {config.ecr_repository} with all its images, "
        f"and the bucket {bucket} with every object version"
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
) -> str:
    """Delete the app stack, the pipeline stacks, the repository and the bucket; return the closing line."""
    progress = progress or Progress()
    bucket = config.artifact_bucket_name(aws.account_id)
    confirm(plan(config, bucket), yes, action="delete")
    stacks = Stacks(aws, progress, poll_seconds=poll_seconds)
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
    for removal in (delete_repository(aws, config.ecr_repository), delete_bucket(aws, bucket)):
        progress.line(str(removal))
        if removal.deleted:
            deleted.append(removal.resource)
    what = ", ".join(deleted) if deleted else "nothing was left to delete"
    left = f"the GitHub connection {connection}" if connection else CONNECTION_BY_HAND
    return f"clean complete: {what}; still there (delete it by hand in the console if unused): {left}"
