"""The API container's start command, run as a real process the way the image runs it.

No Docker engine runs here, so the test takes the `api` target's CMD and ENV from the Dockerfile and runs
that command directly: DATABASE_URL points into a temp directory instead of the EFS mount at /data, PORT
picks a free port, and the working directory is empty like the image's (no `.env`). Packages the image does
not install (the deploy tooling and the dev extra) are made unimportable, so a stray import fails here
as it would in the image.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from app.migrate import alembic_config
from tests.support import free_port
from tests.test_container_dockerfile import DOCKERFILE, PROJECT_ROOT, parse_dockerfile

DEV_ONLY_MODULES = {"pytest", "pytest_asyncio", "moto", "cfn_lint", "schemathesis", "httpx", "hypothesis"}
SITECUSTOMIZE = """
import sys

NOT_IN_IMAGE = {blocked!r}


class NotInImage:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in NOT_IN_IMAGE:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not installed in the api image)")
        return None


sys.meta_path.insert(0, NotInImage())
"""


def modules_not_in_image() -> set[str]:
    """Import names of the tooling the Dockerfile leaves out (and what only it brings), plus the dev extra."""
    tooling = set(re.search(r'ARG TOOLING_PACKAGES="([^"]*)"', DOCKERFILE.read_text()).group(1).split())
    tooling |= {"botocore", "s3transfer"}  # installed only as boto3's dependencies
    distributions = importlib.metadata.packages_distributions()
    modules = {module for module, dists in distributions.items() if {d.lower() for d in dists} & tooling}
    return modules | DEV_ONLY_MODULES


def start_command() -> list[str]:
    command = parse_dockerfile(DOCKERFILE.read_text())["api"].last("CMD").exec_form()
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def container_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The image's ENV with /data moved into tmp_path, plus what ECS injects (the JWT key) and a free PORT."""
    image_env = parse_dockerfile(DOCKERFILE.read_text())["api"].env()
    site = tmp_path / "image-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(blocked=sorted(modules_not_in_image())))
    inherited = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYENV_VERSION", "PYENV_ROOT")
    env = {name: os.environ[name] for name in inherited if name in os.environ}
    env.update(image_env)
    env.update(
        DATABASE_URL=image_env["DATABASE_URL"].replace("////data/", f"///{tmp_path}/data/"),
        JWT_SECRET_KEY=secrets.token_urlsafe(48),
        PORT=str(free_port()),
        PYTHONPATH=os.pathsep.join([str(site), str(PROJECT_ROOT)]),
    )
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


@contextmanager
def started(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    workdir = tmp_path / "workdir"
    workdir.mkdir(exist_ok=True)
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            start_command(), cwd=workdir, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited with {process.returncode}:\n{log.read_text()}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"/health was not 200 within {timeout}s:\n{log.read_text()}")


def run_to_exit(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    workdir = tmp_path / "workdir"
    workdir.mkdir(exist_ok=True)
    return subprocess.run(start_command(), cwd=workdir, env=env, capture_output=True, text=True, timeout=60)


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_it_migrates_an_empty_database_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = container_env(tmp_path)
    database = tmp_path / "data" / "app.db"
    database.parent.mkdir()
    database.touch()  # an empty file is an empty SQLite database
    base_url = f"http://127.0.0.1:{env['PORT']}"

    with started(tmp_path, env) as (process, log):
        wait_healthy(process, f"{base_url}/health", log)
        assert httpx.get(f"{base_url}/health").json() == {"status": "ok", "database": "ok"}
        assert httpx.get(f"{base_url}/").status_code == 200

        # ECS stops a task with SIGTERM, then SIGKILL after the stop timeout (30 s by default).
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=10)
        stop_seconds = time.monotonic() - stopping

    output = log.read_text()
    assert returncode == 0, output
    assert stop_seconds < 5, f"SIGTERM took {stop_seconds:.1f}s"
    assert "Traceback" not in output
    # Read after the stop: while it runs, the server holds SQLite's exclusive lock (wal-exclusive journal).
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"users", "locations"} <= tables


def test_without_jwt_secret_key_in_prod_it_exits_with_one_line(tmp_path: Path) -> None:
    result = run_to_exit(tmp_path, container_env(tmp_path, JWT_SECRET_KEY=None))

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "JWT_SECRET_KEY" in line
    assert not (tmp_path / "data").exists()  # settings are checked before anything touches the database


@pytest.mark.parametrize(
    ("broken", "expected"),
    [("not-a-database", "file is not a database"), ("unwritable-path", "occupied")],
)
def test_a_broken_database_stops_it_with_a_clear_message(tmp_path: Path, broken: str, expected: str) -> None:
    if broken == "not-a-database":
        database = tmp_path / "app.db"
        database.write_text("not a database\n" * 200)
    else:  # its directory cannot be created: a file is in the way
        (tmp_path / "occupied").write_text("a file where the data directory should be")
        database = tmp_path / "occupied" / "app.db"

    result = run_to_exit(tmp_path, container_env(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{database}"))

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    # A file that is no database fails the integrity check, before any migration touches it.
    assert last_line.startswith("error: ") and expected in last_line
