"""Project tasks: `invoke --list` shows them, `invoke --help TASK` explains one.

Each task is thin: it parses its options, calls one function of the package, and prints the outcome. To add
one: decorate it with `task` below (no automatic short flags: `-r` would mean something else in every task),
take its options' help from HELP (add new options there, once), and run its body in `with user_errors():`.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import invoke
from invoke import Context, Exit

from lifecycle.project import RenderOptions

# Every option's help, written once: tasks that share an option share its meaning.
HELP = {
    # Local development
    "revision": "target revision: 'head' (default), 'base', a revision id, or relative like '-1' / '+1'",
    "database-url": "database to use (default: $DATABASE_URL, or ./data/app.db)",
    "yes": "do not ask for confirmation (needed without a terminal)",
    "host": "address to listen on (default 127.0.0.1)",
    "port": "port to listen on (default 8000)",
    "reload": "restart when the code changes",
    "k": "only tests matching this expression",
    "x": "stop at the first failure",
    "duration": "seconds per run (default 5)",
    "repeat": "runs per scenario; the table shows medians (default 3)",
    "connections": "concurrent connections (default 16)",
    "journals": "SQLite journals to compare on writes (default wal-exclusive,delete)",
    "baseline": "another checkout (e.g. `git worktree add ../main main`) to compare location writes with",
    "only": "scenario groups to run: writes, guessing, api (default all)",
    "databases": "engines to run the api group on: sqlite, postgres (default both; postgres needs a server)",
    # Images
    "tag": "image tag suffix (default: the git commit's short sha, or 'latest' outside git)",
    "repository": "ECR repository: a name (default: $ECS1_ECR_REPOSITORY or ecs1) or a full repository URI",
    "target": "only this image: api or authorizer (default: both)",
    # The project's config (render, deploy, clean): ECS1_<OPTION> variables set the same defaults
    "project": "project name the stacks and resources are named after (default: ecs1)",
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
    "out": "folder to write into (default: build/templates)",
    "template": "rendered app template (default: build/templates/app.json, else the default configuration)",
    # AWS
    "profile": "AWS profile to use (default: AWS_PROFILE or the default credentials)",
    "endpoint-url": "send every AWS call here, e.g. the `invoke local-aws` emulator (or AWS_ENDPOINT_URL)",
    "stack": "which stacks: app, pipelines or all (default)",
    "images": "build and push the images even when the repository already has their tags",
    "stand-in-images": "local emulator only: register placeholder images instead of building (no Docker)",
    "keep-images": "with --stack app: deploy its template and settings, keep the images that run",
    "missing-only": "skip images whose tag the ECR repository already has (needs AWS credentials)",
}


def helps(*options: str, **specific: str) -> dict[str, str]:
    """A task's `help=`: the shared help of `options`, plus help that only this task's option has."""
    return {**{option: HELP[option] for option in options}, **specific}


def task(*args: Any, **kwargs: Any) -> Any:
    """invoke's `@task` without automatic short flags, so that only long options exist and `-h` is help."""
    return invoke.task(*args, **{"auto_shortflags": False, **kwargs})


def _one_line(exc: Exception) -> str | None:
    """The line for a failure the user can act on; None for a bug, whose traceback must show."""
    from pydantic import ValidationError

    from app.core.config import describe_settings_error
    from lifecycle.errors import USER_ERRORS, describe_error

    if isinstance(exc, USER_ERRORS):
        return describe_error(exc)
    if isinstance(exc, ValidationError):
        return describe_settings_error(exc)
    return None


@contextmanager
def user_errors(interrupted: str = "interrupted") -> Iterator[None]:
    """End the task with one line, `error: ...` (exit code 1), for any failure the user can act on."""
    try:
        yield
    except KeyboardInterrupt:
        raise Exit(interrupted, code=130) from None
    except Exception as exc:
        line = _one_line(exc)
        if line is None:
            raise
        raise Exit(f"error: {line}") from None


def aws_errors() -> AbstractContextManager[None]:
    """user_errors for tasks that call AWS: Ctrl+C says what carries on without us."""
    from lifecycle.errors import INTERRUPTED

    return user_errors(INTERRUPTED)


# Local development


@task(help=helps("revision", "database-url", "yes"))
def migrate(c: Context, revision: str = "head", database_url: str = "", yes: bool = False) -> None:
    """Apply Alembic migrations up (or down, after asking) to a revision."""
    from alembic.util import CommandError

    from app.core.config import DatabaseSettings
    from app.core.database_url import describe
    from app.migrate import is_downgrade, migrate_to
    from lifecycle.confirm import confirm

    with user_errors():
        url = database_url or DatabaseSettings().database_url
        try:
            if is_downgrade(url, revision):
                question = (
                    f"this migrates {describe(url)} down to {revision}: what later revisions added goes,"
                    " data too"
                )
                confirm(question, yes, action="migrate down")
            before, after = migrate_to(url, revision)
        except CommandError as exc:
            raise Exit(f"error: migration to '{revision}' failed: {exc}") from None
        except ModuleNotFoundError as exc:
            raise Exit(f"error: {missing_driver(exc)}") from None
    print(f"database at revision {after or 'base'} (was {before or 'base'}): {describe(url)}")


def missing_driver(exc: ModuleNotFoundError) -> str:
    return f"the driver {exc.name} is not installed: pip install -e '.[postgres]'"


@task(
    help=helps(
        source="database to copy from (default: $DATABASE_URL, or ./data/app.db)",
        target="the new, empty database to copy into, e.g. postgresql+psycopg://user@host/db",
        batch="rows per insert batch (default 5000)",
    )
)
def migrate_data(c: Context, source: str = "", target: str = "", batch: str = "5000") -> None:
    """Copy a SQLite database into an empty PostgreSQL one: ids kept, sequences reset, row counts verified."""
    from app.core.config import DatabaseSettings
    from app.core.database_url import describe
    from app.migrate_data import DataCopyError, copy_database
    from lifecycle.project import whole_number

    if not target:
        raise Exit(
            "error: give --target, the empty database to copy into (postgresql+psycopg://user@host/db)"
        )
    with user_errors():
        rows = whole_number(batch, "batch")
        source = source or DatabaseSettings().database_url
        try:
            copied = copy_database(source, target, batch_rows=rows)
        except DataCopyError as exc:
            raise Exit(f"error: {exc}") from None
        except ModuleNotFoundError as exc:
            raise Exit(f"error: {missing_driver(exc)}") from None
    counts = ", ".join(f"{table.name} {table.rows:,}" for table in copied)
    print(f"copied {describe(source)} into {describe(target)}: {counts} rows, counts verified")


@task(help=helps("host", "port", "reload"))
def serve(c: Context, host: str = "127.0.0.1", port: str = "8000", reload: bool = False) -> None:
    """Run the API locally: migrate ./data/app.db, then serve with uvicorn (APP_ENV=dev unless set)."""
    import os
    import signal

    from lifecycle.local_server import check_port_free, run_server
    from lifecycle.project import whole_number

    with user_errors():
        number = whole_number(port, "port")
        check_port_free(host, number)
    print(
        f"API: http://{host}:{number}  interactive docs: http://{host}:{number}/docs  (Ctrl+C stops)",
        flush=True,
    )
    code = run_server(host, number, reload, {"APP_ENV": "dev", **os.environ})
    if code not in (0, -signal.SIGINT, -signal.SIGTERM):
        raise Exit(f"error: the API server stopped with exit code {code} (see the lines above)")
    print("API server stopped.")


@task(help=helps("k", "x"))
def test(c: Context, k: str = "", x: bool = False) -> None:
    """Run the whole test suite."""
    args = (f" -k '{k}'" if k else "") + (" -x" if x else "")
    c.run(f"{sys.executable} -m pytest{args}", pty=sys.stdout.isatty())


@task(help=helps("duration", "repeat", "connections", "journals", "baseline", "only", "databases"))
def bench(
    c: Context,
    duration: str = "5",
    repeat: str = "3",
    connections: str = "16",
    journals: str = "",
    baseline: str = "",
    only: str = "",
    databases: str = "",
) -> None:
    """Benchmark the API as the container runs it, with wrk: req/s and p50/p99 latency per scenario."""
    from lifecycle.project import whole_number

    with user_errors():
        numbers = {"duration": duration, "repeat": repeat, "connections": connections}
        args = " ".join(f"--{name} {whole_number(value, name)}" for name, value in numbers.items())
    args += f" --journals {journals}" if journals else ""
    args += f" --baseline {shlex.quote(baseline)}" if baseline else ""
    args += f" --only {shlex.quote(only)}" if only else ""
    args += f" --databases {shlex.quote(databases)}" if databases else ""
    result = c.run(f"{sys.executable} bench/run.py {args}", warn=True, pty=sys.stdout.isatty())
    if not result.ok:
        raise Exit(f"error: the benchmark failed with exit code {result.exited} (see the lines above)")


# Images


@task(help=helps("tag", "repository", "architecture", "target", "missing-only"))
def build(
    c: Context,
    tag: str = "",
    repository: str = "",
    architecture: str = "",
    target: str = "",
    missing_only: bool = False,
) -> None:
    """Build the API and authorizer images from the Dockerfile (needs a running Docker engine)."""
    from lifecycle.aws import Aws
    from lifecycle.images import TARGETS, already_pushed, build_images, image_tag, platform_for
    from lifecycle.project import project_config

    with aws_errors():
        config = project_config()
        platform = platform_for(architecture or config.architecture)
        repository = repository or config.ecr_repository
        built = build_images(
            tag or image_tag(),
            repository,
            platform,
            [target] if target else TARGETS,
            pushed=already_pushed(repository, Aws(region=config.region)) if missing_only else None,
        )
    print(f"built {' and '.join(built) or 'nothing: every image is in ECR already'} for {platform}")


@task(help=helps("tag", "repository", "target", "region", "profile"))
def push(
    c: Context, tag: str = "", repository: str = "", target: str = "", region: str = "", profile: str = ""
) -> None:
    """Log in to ECR and push the images built by `invoke build` (needs a running Docker engine)."""
    from lifecycle.aws import Aws
    from lifecycle.images import TARGETS, image_tag, push_images
    from lifecycle.project import project_config

    with aws_errors():
        config = project_config()
        pushed = push_images(
            tag or image_tag(),
            repository or config.ecr_repository,
            Aws(region=region or config.region, profile=profile),
            [target] if target else TARGETS,
        )
    print(f"pushed {' and '.join(pushed)}")


# Templates, deploy and clean-up


@task(help=helps(*RenderOptions.names()))
def render(
    c: Context,
    connection_arn: str = "",
    github_repo: str = "",
    branch: str = "",
    region: str = "",
    ecr_repository: str = "",
    artifact_bucket: str = "",
    cpu: str = "",
    memory: str = "",
    architecture: str = "",
    capacity_provider: str = "",
    image_tag: str = "",
    database: str = "",
    out: str = "build/templates",
) -> None:
    """Render the app stack and the three pipeline templates as CloudFormation JSON (ECS1_* env overrides)."""
    from lifecycle.project import render_templates

    options = RenderOptions.pick(locals())
    with user_errors():
        render_templates(options.config(), options.out)


@task(
    help=helps(
        "template",
        database="render this mode (ECS1_* settings; into --template's folder if given) and price it:"
        " sqlite or postgres",
    )
)
def cost(c: Context, template: str = "", database: str = "") -> None:
    """Print the itemised fixed monthly cost at idle of the rendered application stack."""
    from lifecycle.project import cost_report

    with user_errors():
        print(cost_report(template, database))


@task(
    help=helps(
        *RenderOptions.names(), "stack", "profile", "endpoint-url", "images", "stand-in-images", "keep-images"
    )
)
def deploy(
    c: Context,
    stack: str = "all",
    profile: str = "",
    endpoint_url: str = "",
    images: bool = False,
    stand_in_images: bool = False,
    keep_images: bool = False,
    connection_arn: str = "",
    github_repo: str = "",
    branch: str = "",
    region: str = "",
    ecr_repository: str = "",
    artifact_bucket: str = "",
    cpu: str = "",
    memory: str = "",
    architecture: str = "",
    capacity_provider: str = "",
    image_tag: str = "",
    database: str = "",
    out: str = "build/templates",
) -> None:
    """Render, then create or update the stacks through change sets (and the ECR repository and bucket)."""
    from pathlib import Path

    from lifecycle.aws import Aws
    from lifecycle.deploy import deploy as deploy_stacks
    from lifecycle.project import render_templates

    options = RenderOptions.pick(locals())
    with aws_errors():
        config = options.config()
        render_templates(config, options.out)
        aws = Aws(region=config.region, profile=profile, endpoint_url=endpoint_url)
        result = deploy_stacks(
            config,
            aws,
            Path(options.out),
            stack=stack,
            images=images,
            stand_in_images=stand_in_images,
            keep_images=keep_images,
            explicit_image_tag=options.explicit_image_tag,
        )
    print(result.summary())


@task(
    help=helps(
        "region",
        "profile",
        "endpoint-url",
        target="the image to deploy: api or authorizer",
        tag="its tag suffix, as pushed (default: the git commit's short sha)",
    )
)
def deploy_image(
    c: Context, target: str, tag: str = "", region: str = "", profile: str = "", endpoint_url: str = ""
) -> None:
    """Point the app stack at one pushed image, keeping its template and other settings (update pipelines)."""
    from lifecycle.aws import Aws
    from lifecycle.deploy import deploy_image as deploy_one_image
    from lifecycle.images import image_tag
    from lifecycle.project import project_config

    with aws_errors():
        config = project_config()
        aws = Aws(region=region or config.region, profile=profile, endpoint_url=endpoint_url)
        print(deploy_one_image(config, aws, target, tag or image_tag()))


@task(
    help=helps(
        "yes",
        "region",
        "profile",
        "endpoint-url",
        "project",
        "ecr-repository",
        "artifact-bucket",
        connection_arn="the GitHub connection's ARN, to name it in the reminder at the end",
    )
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
    from lifecycle.project import project_config

    with aws_errors():
        config = project_config(
            {
                "region": region,
                "project": project,
                "ecr_repository": ecr_repository,
                "artifact_bucket": artifact_bucket,
                "connection_arn": connection_arn,
            }
        )
        aws = Aws(region=config.region, profile=profile, endpoint_url=endpoint_url)
        print(clean_all(config, aws, yes=yes))


@task(help=helps(port="port to listen on at 127.0.0.1 (default 5000; 0 picks a free one)"))
def local_aws(c: Context, port: str = "5000") -> None:
    """Run a local AWS emulator (moto + the project's CloudFormation emulations) until Ctrl+C."""
    from lifecycle.project import whole_number
    from local_aws import EmulatorError, serve

    with user_errors():
        number = whole_number(port, "port")
    try:
        serve(number)
    except EmulatorError as exc:
        raise Exit(f"error: {exc}") from None
