"""Shared fixtures, and the rules every test here follows.

- The suite runs on pytest-xdist, one worker per core, a test file per worker (`--dist loadfile`): a
  session-scoped fixture such as the API processes behind `server` exists once per worker and serves all its
  files, so tests never rely on another file's state (nor on a server of their own: they make their users).
- `@pytest.mark.slow` (or `pytestmark = pytest.mark.slow` for a whole file) on a test that starts a process
  (invoke, a linter, a server other than `server`) or runs a deploy: `invoke test --quick` skips those.
- No assertion on wall-clock time (a bounded wait against a hang is fine): `invoke bench` measures speed.
- Tools are installed by the set-up, never by a test (checkov: `python -m devtools.checkov`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.postgres_support import fresh_database
from tests.support import ADMIN_NAME, ADMIN_PASSWORD, Server, bearer, login, running_server


@pytest.fixture(scope="session")
def api_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Server]]:
    """The shared API processes of this worker, started on first use and kept to the session's end: a
    session-scoped parametrized fixture would be torn down and started again for each file (xdist runs a
    worker's files one after another, each through both engines)."""
    started: dict[str, Server] = {}
    with ExitStack() as stack:

        def get(engine: str) -> Server:
            if engine not in started:
                tmp_dir = tmp_path_factory.mktemp(f"api-{engine}")
                if engine == "sqlite":
                    started[engine] = stack.enter_context(running_server(tmp_dir))
                else:
                    url = stack.enter_context(fresh_database())
                    started[engine] = stack.enter_context(running_server(tmp_dir, database_url=url))
            return started[engine]

        yield get


# The engines the API tests run on: both in the suite; `invoke test --quick` sets SQLite alone for the inner
# loop (the SQL is the same; what differs per engine is proven by the whole suite, which CI runs).
ENGINES = os.environ.get("ECS1_TEST_ENGINES", "sqlite,postgres").split(",")


@pytest.fixture(scope="module", params=ENGINES)
def server(request: pytest.FixtureRequest, api_servers: Callable[[str], Server]) -> Server:
    """One real API process per engine for the API tests, shared by every file of a worker: the container's
    start command on a fresh SQLite file, then on a fresh PostgreSQL database (skipped where none is
    reachable, an error in CI). Tests never rely on what another test or file left in it."""
    return api_servers(request.param)


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        yield http


@pytest.fixture
def admin_headers(client: httpx.Client) -> dict[str, str]:
    response = login(client, ADMIN_NAME, ADMIN_PASSWORD)
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


def pytest_report_header(config: pytest.Config) -> str:
    return (
        "the suite runs on one worker per core (pytest-xdist, a file per worker; -n 0 for one process); "
        "tests marked slow (a process, a linter, a deploy) are skipped by `invoke test --quick`"
    )


# The files that take longest (measured), first: xdist hands the files out in collection order, so with these
# begun early the workers finish together, rather than one idling while the other runs a long last file (the
# type check, say). A file missing here only runs later; the order never changes what a test proves.
LONGEST_FIRST = (
    "test_backups.py",
    "test_e2e_day2.py",
    "test_api_schemathesis.py",
    "test_local_aws_templates.py",
    "test_throttle.py",
    "test_e2e_failures.py",
    "test_templates_lint.py",
    "test_pipelines_emulated.py",
    "test_container_images.py",
    "test_typing.py",
    "test_cli.py",
    "test_postgres_processes.py",
    "test_storage_failures.py",
    "test_e2e_postgres.py",
    "test_e2e_lifecycle.py",
    "test_container_start.py",
)


@pytest.hookimpl(trylast=True)  # after pytest's own grouping of tests by fixture parameter, which it keeps
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's server on a free port, for the tests of one file."""
    from tests.lifecycle_support import moto_server

    with moto_server() as url:
        yield url


@pytest.fixture
def endpoint(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The file's moto server, emptied, with fake credentials in the environment. A file that needs the
    project's emulations on top defines its own `endpoint`."""
    from tests.lifecycle_support import fake_credentials, reset

    reset(moto_url)
    fake_credentials(monkeypatch)
    return moto_url
