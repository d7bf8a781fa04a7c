"""Project tasks: `invoke --list` shows them, `invoke --help TASK` explains one."""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from invoke import Context, Exit, task

if TYPE_CHECKING:
    from troposphere_templates.config import ProjectConfig

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

    from app.core.database_url import describe
    from app.migrate import migrate_to

    url = database_url or _database_url()
    try:
        before, after = migrate_to(url, revision)
    except CommandError as exc:
        raise Exit(f"error: migration to '{revision}' failed: {exc}") from None
    except ModuleNotFoundError as exc:
        raise Exit(f"error: the driver {exc.name} is not installed: pip install -e '.[postgres]'") from None
    print(f"database at revision {after or 'base'} (was {before or 'base'}): {describe(url)}")


@task(
    help={
        "source": "database to copy from (default: $DATABASE_URL or ./data/app.db)",
        "target": "the new, empty database to copy into, e.g. postgresql+psycopg://user@host/db",
        "batch": "rows per insert batch (default 5000)",
    }
)
def migrate_data(c: Context, source: str = "", target: str = "", batch: int = 5000) -> None:
    """Copy a SQLite database into an empty PostgreSQL one: ids kept, sequences reset, row counts verified."""
    from app.core.database_url import describe
    from app.migrate_data import BATCH_ROWS, DataCopyError, copy_database

    if not target:
        raise Exit(
            "error: give --target, the empty database to copy into (postgresql+psycopg://user@host/db)"
        )
    source = source or _database_url()
    try:
        copied = copy_database(source, target, batch_rows=batch or BATCH_ROWS)
    except DataCopyError as exc:
        raise Exit(f"error: {exc}") from None
    except ModuleNotFoundError as exc:
        raise Exit(f"error: the driver {exc.name} is not installed: pip install -e '.[postgres]'") from None
    counts = ", ".join(f"{table.name} {table.rows:,}" for table in copied)
    print(f"copied {describe(source)} into {describe(target)}: {counts} rows, counts verified")


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
    command = [sys.executable, "-m", "app.server", "--host", host, "--port", str(port)]
    command += ["--reload"] if reload else []
    # Its own session, so that Ctrl+C reaches the server exactly once (forwarded below): a second SIGINT
    # would make uvicorn skip its graceful shutdown.
    server = subprocess.Popen(command, env={**os.environ, **env}, start_new_session=True)  # noqa: S603
    try:
        code = server.wait()
    except KeyboardInterrupt:
        server.send_signal(signal.SIGINT)
        code = server.wait()
    if code not in (0, -signal.SIGINT):
        raise Exit(f"error: the API server stopped with exit code {code} (see the lines above)")
    print("API server stopped.")


@task(help={"k": "only tests matching this expression", "x": "stop at the first failure"})
def test(c: Context, k: str = "", x: bool = False) -> None:
    """Run the whole test suite."""
    args = (f" -k '{k}'" if k else "") + (" -x" if x else "")
    c.run(f"{sys.executable} -m pytest{args}", pty=sys.stdout.isatty())


@task(
    help={
        "duration": "seconds per run (default 5)",
        "repeat": "runs per scenario; the table shows medians (default 3)",
        "connections": "concurrent connections (default 16)",
        "journals": "SQLite journals to compare on writes (default wal-exclusive,delete)",
    }
)
def bench(c: Context, duration: int = 5, repeat: int = 3, connections: int = 16, journals: str = "") -> None:
    """Benchmark the API as the container runs it, with wrk: req/s and p50/p99 latency per scenario."""
    args = f"--duration {duration} --repeat {repeat} --connections {connections}"
    args += f" --journals {journals}" if journals else ""
    result = c.run(f"{sys.executable} bench/run.py {args}", warn=True, pty=sys.stdout.isatty())
    if not result.ok:
        raise Exit(f"error: the benchmark failed with exit code {result.exited} (see the lines above)")


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
    "database": "sqlite (default: one task, SQLite on EFS) or postgres (RDS PostgreSQL, 2-4 tasks)",
    "account-id": "AWS account id: also write imagedefinitions.json (the update pipeline passes it)",
    "out": "folder to write into (default: build/templates)",
}


def _render_config(options: dict[str, Any]) -> ProjectConfig:
    """The config `render` and `deploy` (same options) use: ECS1_* env, then the options given."""
    from troposphere_templates.config import ConfigError, ProjectConfig, current_image_tag

    try:
        return ProjectConfig.from_env().with_options(
            connection_arn=options["connection_arn"],
            github_repo=options["github_repo"],
            branch=options["branch"],
            region=options["region"],
            ecr_repository=options["ecr_repository"],
            artifact_bucket=options["artifact_bucket"],
            cpu=options["cpu"] or None,
            memory=options["memory"] or None,
            architecture=options["architecture"].upper(),
            capacity_provider=options["capacity_provider"].upper(),
            image_tag=options["image_tag"] or os.environ.get("ECS1_IMAGE_TAG") or current_image_tag(),
            database=options["database"].lower(),
        )
    except ConfigError as exc:
        raise Exit(f"error: {exc}") from None


@task(help=RENDER_HELP, auto_shortflags=False)
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
    database: str = "",
    account_id: str = "",
    out: str = "build/templates",
) -> None:
    """Render the app stack and the three pipeline templates as CloudFormation JSON (ECS1_* env overrides)."""
    config = _render_config(locals())
    from troposphere_templates.render import render_all

    for path in render_all(config, out, account_id=account_id):
        print(f"wrote {path}")
    print(
        f"rendered {config.app_stack} ({config.architecture} {config.cpu}/{config.memory}, "
        f"{config.capacity_provider}, images :*-{config.image_tag}) and 3 pipelines for {config.region}"
    )


@task(
    help={
        "template": "rendered app template (default: build/templates/app.json, rendered if missing)",
        "database": "render this mode first and price it: sqlite or postgres",
    }
)
def cost(c: Context, template: str = "build/templates/app.json", database: str = "") -> None:
    """Print the itemised fixed monthly cost at idle of the rendered application stack."""
    from pathlib import Path

    from troposphere_templates.cost import CostError, report

    if database:
        render(c, database=database, out=str(Path(template).parent))
    elif not Path(template).exists():
        print(f"{template} does not exist yet: rendering the default configuration first")
        render(c, out=str(Path(template).parent))
    try:
        print(report(Path(template)))
    except CostError as exc:
        raise Exit(f"error: {exc}") from None


AWS_HELP = {
    "profile": "AWS profile to use (default: AWS_PROFILE or the default credentials)",
    "endpoint-url": "send every AWS call here, e.g. the `invoke local-aws` emulator (or AWS_ENDPOINT_URL)",
}
DEPLOY_HELP = {
    **AWS_HELP,
    "stack": "which stacks: app, pipelines or all (default)",
    "images": "build and push the images even when the repository already has their tags",
    "stand-in-images": "local emulator only: register placeholder images instead of building (no Docker)",
}


def _with_render_options(extra_help: dict[str, str]) -> Callable[[Callable[..., None]], Any]:
    """Make a task take `render`'s options too (same names, defaults, help), passed on as **render_options."""

    def decorate(body: Callable[..., None]) -> Any:
        own = [p for p in inspect.signature(body).parameters.values() if p.kind != p.VAR_KEYWORD]
        taken = {p.name for p in own}
        render_options = list(inspect.signature(render.body).parameters.values())[1:]
        shared = [p for p in render_options if p.name not in taken]
        body.__signature__ = inspect.Signature(own + shared)  # type: ignore[attr-defined]
        return task(help={**RENDER_HELP, **extra_help}, auto_shortflags=False)(body)

    return decorate


@_with_render_options(DEPLOY_HELP)
def deploy(
    c: Context,
    stack: str = "all",
    profile: str = "",
    endpoint_url: str = "",
    images: bool = False,
    stand_in_images: bool = False,
    **render_options: Any,
) -> None:
    """Render, then create or update the stacks through change sets (and the ECR repository and bucket)."""
    from pathlib import Path

    from lifecycle.aws import Aws
    from lifecycle.deploy import deploy as deploy_stacks
    from lifecycle.errors import user_errors

    render(c, **render_options)
    config = _render_config(render_options)
    with user_errors():
        aws = Aws(region=config.region, profile=profile, endpoint_url=endpoint_url)
        result = deploy_stacks(
            config,
            aws,
            Path(render_options["out"]),
            stack=stack,
            images=images,
            stand_in_images=stand_in_images,
        )
    print(result.summary())


@task(
    help={
        **AWS_HELP,
        "yes": "do not ask for confirmation (needed without a terminal)",
        "region": RENDER_HELP["region"],
        "project": "project name the stacks and resources are named after (default: ecs1)",
        "ecr-repository": RENDER_HELP["ecr-repository"],
        "artifact-bucket": RENDER_HELP["artifact-bucket"],
        "connection-arn": "the GitHub connection's ARN, to name it in the reminder at the end",
    }
)
def clean(
    c: Context,
    yes: bool = False,
    region: str = "",
    profile: str = "",
    endpoint_url: str = "",
    project: str = "",
    ecr_repository: str = "",
    artifact_bucket: str = "",
    connection_arn: str = "",
) -> None:
    """Delete what deploy made: the app stack, the pipeline stacks, the ECR repository and the bucket."""
    from lifecycle.aws import Aws
    from lifecycle.clean import clean as clean_all
    from lifecycle.errors import user_errors
    from troposphere_templates.config import ConfigError, ProjectConfig

    try:
        config = ProjectConfig.from_env().with_options(
            region=region,
            project=project,
            ecr_repository=ecr_repository,
            artifact_bucket=artifact_bucket,
            connection_arn=connection_arn,
        )
    except ConfigError as exc:
        raise Exit(f"error: {exc}") from None
    with user_errors():
        aws = Aws(region=config.region, profile=profile, endpoint_url=endpoint_url)
        print(clean_all(config, aws, yes=yes))


@task(help={"port": "port to listen on at 127.0.0.1 (default 5000; 0 picks a free one)"})
def local_aws(c: Context, port: int = 5000) -> None:
    """Run a local AWS emulator (moto + the project's CloudFormation emulations) until Ctrl+C."""
    from local_aws import EmulatorError, serve

    try:
        serve(port)
    except EmulatorError as exc:
        raise Exit(f"error: {exc}") from None
