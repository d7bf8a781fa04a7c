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
    "repository": "ECR repository: a name (default: ecs1) or a full repository URI",
    "target": "only this image: api or authorizer (default: both)",
}


@task(help={**IMAGE_HELP, "architecture": "ARM64 (default) or X86_64: the platform to build for"})
def build(c: Context, tag: str = "", repository: str = "", architecture: str = "", target: str = "") -> None:
    """Build the API and authorizer images from the Dockerfile (needs a running Docker engine)."""
    from lifecycle.errors import user_errors
    from lifecycle.images import TARGETS, build_images, image_tag, platform_for
    from troposphere_templates.config import ProjectConfig

    defaults = ProjectConfig()
    with user_errors():
        platform = platform_for(architecture or defaults.architecture)
        built = build_images(
            tag or image_tag(),
            repository or defaults.ecr_repository,
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
    from lifecycle.images import TARGETS, image_tag, push_images
    from troposphere_templates.config import ProjectConfig

    with user_errors():
        pushed = push_images(
            tag or image_tag(),
            repository or ProjectConfig().ecr_repository,
            Aws(region=region, profile=profile),
            [target] if target else TARGETS,
        )
    print(f"pushed {' and '.join(pushed)}")
