"""Project tasks: `invoke --list` shows them, `invoke --help TASK` explains one."""

from __future__ import annotations

import os
import sys

from invoke import Context, Exit, task

DEV_DATABASE_URL = "sqlite+aiosqlite:///./data/app.db"


def _database_url() -> str:
    return os.environ.get("DATABASE_URL", DEV_DATABASE_URL)


@task(
    help={
        "revision": "target revision: 'head' (default), a revision id, or relative like '-1' / '+1'",
        "database-url": "database to migrate (default: $DATABASE_URL or ./data/app.db)",
    }
)
def migrate(c: Context, revision: str = "head", database_url: str = "") -> None:
    """Apply Alembic migrations up (or down) to a revision."""
    from alembic.util import CommandError

    from app.migrate import migrate_to

    url = database_url or _database_url()
    try:
        before, after = migrate_to(url, revision)
    except CommandError as exc:
        raise Exit(f"error: migration to '{revision}' failed: {exc}") from None
    print(f"database at revision {after or 'base'} (was {before or 'base'}): {url}")


@task(
    help={
        "host": "address to listen on (default 127.0.0.1)",
        "port": "port to listen on (default 8000)",
        "reload": "restart when the code changes",
    }
)
def serve(c: Context, host: str = "127.0.0.1", port: int = 8000, reload: bool = False) -> None:
    """Run the API locally: migrate ./data/app.db, then serve with uvicorn (APP_ENV=dev unless set)."""
    env = {"APP_ENV": os.environ.get("APP_ENV", "dev"), "DATABASE_URL": _database_url()}
    print(f"API: http://{host}:{port}  interactive docs: http://{host}:{port}/docs  (Ctrl+C stops)")
    args = f"--host {host} --port {port}" + (" --reload" if reload else "")
    c.run(f"{sys.executable} -m app.server {args}", env=env, pty=sys.stdout.isatty())


@task(help={"k": "only tests matching this expression", "x": "stop at the first failure"})
def test(c: Context, k: str = "", x: bool = False) -> None:
    """Run the whole test suite."""
    args = (f" -k '{k}'" if k else "") + (" -x" if x else "")
    c.run(f"{sys.executable} -m pytest{args}", pty=sys.stdout.isatty())


IMAGE_HELP = {
    "tag": "image tag suffix (default: the git commit's short sha, or 'latest' outside git)",
    "repository": "ECR repository: a name (default: $ECS1_ECR_REPOSITORY or ecs1) or a full repository URI",
    "target": "only this image: api or authorizer (default: both)",
}


@task(help={**IMAGE_HELP, "architecture": "ARM64 or X86_64 (default: $ECS1_ARCHITECTURE or ARM64)"})
def build(c: Context, tag: str = "", repository: str = "", architecture: str = "", target: str = "") -> None:
    """Build the API and authorizer images from the Dockerfile (needs a running Docker engine)."""
    from lifecycle.errors import user_errors
    from lifecycle.images import TARGETS, build_images, image_config, image_tag, platform_for

    with user_errors():
        config = image_config()
        platform = platform_for(architecture or config.architecture)
        built = build_images(
            tag or image_tag(),
            repository or config.ecr_repository,
            platform,
            [target] if target else TARGETS,
        )
    print(f"built {' and '.join(built)} for {platform}")


@task(help={**IMAGE_HELP, "region": "AWS region (default: AWS_REGION)", "profile": "AWS profile to use"})
def push(
    c: Context, tag: str = "", repository: str = "", target: str = "", region: str = "", profile: str = ""
) -> None:
    """Log in to ECR and push the images built by `invoke build` (needs a running Docker engine)."""
    from lifecycle.aws import Aws
    from lifecycle.errors import user_errors
    from lifecycle.images import TARGETS, image_config, image_tag, push_images

    with user_errors():
        config = image_config()
        pushed = push_images(
            tag or image_tag(),
            repository or config.ecr_repository,
            Aws(region=region or config.region, profile=profile),
            [target] if target else TARGETS,
        )
    print(f"pushed {' and '.join(pushed)}")


RENDER_HELP = {
    "connection-arn": "ARN of the GitHub connection (CodeConnections) the pipelines use",
    "github-repo": "GitHub repository the pipelines build, as owner/name",
    "branch": "branch whose pushes run the pipelines (default: main)",
    "region": "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or us-east-1)",
    "ecr-repository": "ECR repository holding both images (default: ecs1)",
    "artifact-bucket": "pipelines' artifact bucket (default: ecs1-artifacts-<account>-<region>)",
    "cpu": "task CPU units: 256 (default), 512, 1024, 2048 or 4096",
    "memory": "task memory in MiB valid for the CPU (default: 512)",
    "architecture": "ARM64 (default) or X86_64, for the task, the authorizer and CodeBuild",
    "capacity-provider": "FARGATE (default) or FARGATE_SPOT",
    "image-tag": "image tag suffix (default: the git commit's short sha, or 'latest' outside git)",
    "account-id": "AWS account id: also write imagedefinitions.json (the update pipeline passes it)",
    "out": "folder to write into (default: build/templates)",
}


@task(help=RENDER_HELP)
def render(
    c: Context,
    connection_arn: str = "",
    github_repo: str = "",
    branch: str = "",
    region: str = "",
    ecr_repository: str = "",
    artifact_bucket: str = "",
    cpu: int = 0,
    memory: int = 0,
    architecture: str = "",
    capacity_provider: str = "",
    image_tag: str = "",
    account_id: str = "",
    out: str = "build/templates",
) -> None:
    """Render the app stack and the three pipeline templates as CloudFormation JSON (ECS1_* env overrides)."""
    from troposphere_templates.config import ConfigError, ProjectConfig, current_image_tag
    from troposphere_templates.render import render_all

    try:
        config = ProjectConfig.from_env().with_options(
            connection_arn=connection_arn,
            github_repo=github_repo,
            branch=branch,
            region=region,
            ecr_repository=ecr_repository,
            artifact_bucket=artifact_bucket,
            cpu=cpu or None,
            memory=memory or None,
            architecture=architecture.upper(),
            capacity_provider=capacity_provider.upper(),
            image_tag=image_tag or os.environ.get("ECS1_IMAGE_TAG") or current_image_tag(),
        )
    except ConfigError as exc:
        raise Exit(f"error: {exc}") from None
    for path in render_all(config, out, account_id=account_id):
        print(f"wrote {path}")
    print(
        f"rendered {config.app_stack} ({config.architecture} {config.cpu}/{config.memory}, "
        f"{config.capacity_provider}, images :*-{config.image_tag}) and 3 pipelines for {config.region}"
    )


@task(help={"template": "rendered app template (default: build/templates/app.json, rendered if missing)"})
def cost(c: Context, template: str = "build/templates/app.json") -> None:
    """Print the itemised fixed monthly cost at idle of the rendered application stack."""
    from pathlib import Path

    from troposphere_templates.cost import CostError, report

    if not Path(template).exists():
        print(f"{template} does not exist yet: rendering the default configuration first")
        render(c, out=str(Path(template).parent))
    try:
        print(report(Path(template)))
    except CostError as exc:
        raise Exit(f"error: {exc}") from None
