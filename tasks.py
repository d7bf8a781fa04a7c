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
from typing import TYPE_CHECKING, Any

import invoke
from invoke import Context, Exit

from lifecycle.project import RenderOptions

if TYPE_CHECKING:
    from troposphere_templates.config import ProjectConfig

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
    "quick": "the inner loop: skip the tests marked slow (processes, linters, deploys); API tests on SQLite",
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
    "confirm": "show each stack's changes (as `invoke diff`) and ask before applying them",
    "smoke": "check the live API with `invoke smoke` after the application stack changed (--no-smoke skips)",
    # Day 2
    "json": "print one JSON document (for scripts) instead of the table",
    "url": "probe this API base URL's /health instead of the stack's (e.g. a local server)",
    "source": "only this log: api, authorizer or gateway (default: all three, merged in time order)",
    "since": "from this far back: 10m (default), 2h, 1d, or an ISO time like 2026-11-28T06:00",
    "follow": "keep printing new events until Ctrl+C",
    "local": "the local database (./data/app.db or $DATABASE_URL) instead of the deployed stack",
    "backup-dir": "with --local: the snapshots' folder (default: backups/ beside the database)",
    "filter": "CloudWatch Logs filter pattern, e.g. ERROR or '{ $.status = 5* }'",
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


@task(help=helps("k", "x", "quick"))
def test(c: Context, k: str = "", x: bool = False, quick: bool = False) -> None:
    """Run the whole test suite (in parallel, one worker per core)."""
    # The quick loop runs in one process (starting workers, each importing everything, costs more than it
    # saves) and the API tests on SQLite alone; the whole suite runs them on PostgreSQL too.
    args = (f" -k '{k}'" if k else "") + (" -x" if x else "") + (" -m 'not slow' -n 0" if quick else "")
    env = {"ECS1_TEST_ENGINES": "sqlite"} if quick else {}
    c.run(f"{sys.executable} -m pytest{args}", pty=sys.stdout.isatty(), env=env)


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
        *RenderOptions.names(),
        *("stack", "profile", "endpoint-url", "images", "stand-in-images", "keep-images", "confirm", "smoke"),
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
    confirm: bool = False,
    smoke: bool = True,
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
    from lifecycle.diff import confirm_each
    from lifecycle.project import render_templates
    from lifecycle.smoke import after_deploy as smoke_after_deploy

    options = RenderOptions.pick(locals())
    with aws_errors():
        review = confirm_each(sys.stdin, sys.stdout) if confirm else None
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
            review=review,
        )
        if smoke:
            app = next((r for r in result.stacks if r.name == config.app_stack), None)
            smoke_after_deploy(config, aws, app, result.api_url, sys.stdout)
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
        keep_backups="keep the backup bucket with the database snapshots (it outlives the stack)",
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
    keep_backups: bool = False,
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
        print(clean_all(config, aws, yes=yes, keep_backups=keep_backups))


# Backups

LOCAL_API = "http://127.0.0.1:8000"


def _backup_target(local: bool, region: str, profile: str, endpoint_url: str) -> tuple[Any, Any]:
    """(config, aws) for the deployed stack, or (database path, None) with --local."""
    from pathlib import Path

    from app.core.config import DatabaseSettings
    from app.core.database_url import sqlite_path
    from lifecycle.aws import Aws
    from lifecycle.errors import LifecycleError
    from lifecycle.project import project_config

    if local:
        database = sqlite_path(DatabaseSettings().database_url)
        if database is None:
            raise LifecycleError("--local needs an SQLite DATABASE_URL (PostgreSQL has its own backups)")
        return Path(database), None
    config = project_config({"region": region})
    return config, Aws(region=config.region, profile=profile, endpoint_url=endpoint_url)


@task(
    help=helps(
        "local",
        "region",
        "profile",
        "endpoint-url",
        "backup-dir",
        url="the API to go through (default: the stack's API URL; with --local http://127.0.0.1:8000)",
    )
)
def backup(
    c: Context,
    local: bool = False,
    region: str = "",
    profile: str = "",
    endpoint_url: str = "",
    url: str = "",
    backup_dir: str = "",
) -> None:
    """Take a snapshot of the database now: the deployed stack's (SQLite through its task, PostgreSQL as an
    RDS snapshot), or --local."""
    import os

    from lifecycle.backups import backup_local, backup_remote, local_store

    with aws_errors():
        target, aws = _backup_target(local, region, profile, endpoint_url)
        if aws is None:
            username, password = os.environ.get("ADMIN_USERNAME"), os.environ.get("ADMIN_PASSWORD")
            admin = (username, password) if username and password else None
            store = local_store(target, backup_dir or os.environ.get("BACKUP_DIR", ""))
            print(backup_local(target, store, url or LOCAL_API, admin))
        else:
            print(backup_remote(target, aws, url))


@task(
    help=helps(
        "yes",
        "local",
        "region",
        "profile",
        "endpoint-url",
        "backup-dir",
        at="the newest snapshot taken at or before this UTC time (2026-11-28T07:00) or age (6h, 2d)",
        key="this snapshot (a key from --list)",
        list="only list the snapshots, newest first",
    )
)
def restore(
    c: Context,
    at: str = "",
    key: str = "",
    list: bool = False,
    yes: bool = False,
    local: bool = False,
    region: str = "",
    profile: str = "",
    endpoint_url: str = "",
    backup_dir: str = "",
) -> None:
    """Restore the newest (or a chosen) snapshot, after saying what is lost: SQLite at the API's next start,
    PostgreSQL into a new RDS instance that replaces the stack's."""
    import os

    from lifecycle.backups import list_remote, listing, local_store, restore_local, restore_remote

    if at and key:
        raise Exit("error: give --at or --key, not both")
    with aws_errors():
        target, aws = _backup_target(local, region, profile, endpoint_url)
        if aws is None:
            store = local_store(target, backup_dir or os.environ.get("BACKUP_DIR", ""))
            print(listing(store) if list else restore_local(store, at, key, yes))
        elif list:
            print(list_remote(target, aws))
        else:
            print(restore_remote(target, aws, at, key, yes))


@task(help=helps(port="port to listen on at 127.0.0.1 (default 5000; 0 picks a free one)"))
def local_aws(c: Context, port: str = "5000") -> None:
    """Run a local AWS emulator (moto + the project's CloudFormation emulations) until Ctrl+C."""
    from lifecycle.local_server import check_port_free
    from lifecycle.project import whole_number

    with user_errors():
        number = whole_number(port, "port")
        check_port_free("127.0.0.1", number)  # at once: importing the emulator (moto) takes a second or two
    try:
        from local_aws import EmulatorError, serve
    except ModuleNotFoundError as exc:
        raise Exit(
            f"error: the emulator needs the dev dependencies ({exc}): pip install -e '.[dev]'"
        ) from None
    except ImportError as exc:  # local_aws.moto_adapter refuses a moto it was not tested with
        raise Exit(f"error: {exc}") from None

    try:
        serve(number)
    except EmulatorError as exc:
        raise Exit(f"error: {exc}") from None


# Day 2: the deployed stack


def _ops_config(region: str, project: str) -> ProjectConfig:
    """The config the day-2 tasks (status, logs, smoke) read the deployed names from."""
    from lifecycle.project import project_config

    return project_config({"region": region, "project": project})


@task(
    help=helps(
        "json",
        "url",
        "region",
        "profile",
        "endpoint-url",
        "project",
        database="the mode the stack should run, sqlite or postgres (default: whichever is deployed; "
        "postgres adds the RDS instance's state)",
    )
)
def status(
    c: Context,
    json: bool = False,
    url: str = "",
    region: str = "",
    profile: str = "",
    endpoint_url: str = "",
    project: str = "",
    database: str = "",
) -> None:
    """Show the stacks, the service's rollout, the API's health, the database and the cost; exit 1 when
    unhealthy."""
    from lifecycle.aws import Aws
    from lifecycle.status import gather, render
    from troposphere_templates.config import DATABASES

    if database and database.lower() not in DATABASES:
        raise Exit(f"error: --database must be one of {', '.join(DATABASES)}, not {database!r}")
    with aws_errors():
        config = _ops_config(region, project)
        report = gather(
            config,
            Aws(region=config.region, profile=profile, endpoint_url=endpoint_url),
            url=url,
            database=database.lower(),
        )
    print(report.to_json() if json else render(report))
    if not report.healthy:
        raise Exit(code=1)


@task(
    help=helps(
        "source", "since", "follow", "region", "profile", "endpoint-url", "project", filter_=HELP["filter"]
    )
)
def logs(
    c: Context,
    source: str = "",
    since: str = "10m",
    follow: bool = False,
    filter_: str = "",
    region: str = "",
    profile: str = "",
    endpoint_url: str = "",
    project: str = "",
) -> None:
    """Print the API's, the authorizer's and the gateway's logs, one line per event."""
    from lifecycle.aws import Aws
    from lifecycle.logs import run

    with user_errors("stopped following the logs"):
        config = _ops_config(region, project)
        aws = Aws(region=config.region, profile=profile, endpoint_url=endpoint_url)
        run(config, aws, sys.stdout, sys.stderr, source, since, filter_, keep_following=follow)


@task(
    help=helps(
        *RenderOptions.names(),
        "stack",
        "profile",
        "endpoint-url",
        "keep-images",
        images="accepted as for deploy; diff builds nothing",
        stand_in_images="accepted as for deploy; diff registers nothing",
    )
)
def diff(
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
    """Show what `invoke deploy` with the same options would change; exit 1 when something would."""
    from pathlib import Path

    from lifecycle.aws import Aws
    from lifecycle.diff import diff as stack_diffs
    from lifecycle.diff import render as render_diffs
    from lifecycle.project import render_templates

    options = RenderOptions.pick(locals())
    with user_errors("interrupted: nothing was changed; the change sets made so far are deleted"):
        config = options.config()
        render_templates(config, options.out)
        aws = Aws(region=config.region, profile=profile, endpoint_url=endpoint_url)
        diffs = stack_diffs(
            config,
            aws,
            Path(options.out),
            stack=stack,
            keep_images=keep_images,
            explicit_image_tag=options.explicit_image_tag,
        )
    print(render_diffs(diffs))
    if any(d.changed for d in diffs):
        raise Exit(code=1)


@task(
    help=helps(
        "region",
        "profile",
        "endpoint-url",
        "project",
        url="check this API base URL instead of the stack's, e.g. http://127.0.0.1:8000 (`invoke serve`); "
        "its admin is then ADMIN_USERNAME/ADMIN_PASSWORD when set",
    )
)
def smoke(
    c: Context, url: str = "", region: str = "", profile: str = "", endpoint_url: str = "", project: str = ""
) -> None:
    """Check the live API as a client: health, sign up, log in, a location, delete; exit 1 on a failure."""
    from lifecycle.aws import Aws
    from lifecycle.smoke import SmokeFailed, admin_source, api_url_of
    from lifecycle.smoke import smoke as smoke_test

    with aws_errors():
        config = _ops_config(region, project)
        aws = Aws(region=config.region, profile=profile, endpoint_url=endpoint_url)
        try:
            smoke_test(
                url or api_url_of(config, aws), admin_source(config, aws, local_url=bool(url)), sys.stdout
            )
        except SmokeFailed as exc:
            raise Exit(f"error: smoke test failed at {exc}") from None


@task(
    help=helps("template", out="folder to write architecture.svg and architecture.png into (default: docs)")
)
def diagram(c: Context, template: str = "", out: str = "docs") -> None:
    """Draw the application stack from its rendered template as SVG and PNG (needs Graphviz)."""
    from pathlib import Path

    from lifecycle.diagram import draw
    from lifecycle.project import app_template

    with user_errors(), app_template(template) as (path, _):
        written = draw(path, Path(out))
    print(f"drew {template or 'the application stack'} into {' and '.join(str(p) for p in written)}")
