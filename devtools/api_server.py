"""The real API server process (the container's start command) on a throwaway database, and small client
helpers: what the tests and the benchmark both drive."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ADMIN_NAME = "root-admin"
ADMIN_PASSWORD = "root-admin-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@dataclass
class Server:
    base_url: str
    database: Path
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    @property
    def jwt_secret(self) -> str:
        return self.env["JWT_SECRET_KEY"]

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def server_env(database: Path | str, **overrides: str) -> dict[str, str]:
    """The server's environment; `database` is a SQLite file or a database URL."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "ADMIN_", "DATABASE_", "APP_ENV"))
    }
    env.update(
        APP_ENV="test",
        DATABASE_URL=database if isinstance(database, str) else sqlite_url(database),
        JWT_SECRET_KEY=secrets.token_urlsafe(48),
        BCRYPT_ROUNDS="4",  # the minimum: tests check behaviour, `invoke bench` measures the real cost
        # Generous throttles: the API tests share one server and one client address; the throttle tests set
        # their own.
        LOGIN_FREE_FAILURES_PER_CLIENT="100000",
        LOGIN_FREE_FAILURES_PER_ACCOUNT_CLIENT="100000",
        LOGIN_FREE_FAILURES_PER_ACCOUNT="100000",
        SIGNUP_FREE_PER_CLIENT="100000",
        ADMIN_USERNAME=ADMIN_NAME,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        LOG_LEVEL="warning",
    )
    env.update(overrides)
    return env


def start_server(
    tmp_dir: Path, database_url: str = "", *, project_root: Path = PROJECT_ROOT, **env_overrides: str
) -> Server:
    """Start `python -m app.server` (migrate, then uvicorn) on a free port, without waiting for it.

    The database is `database_url` when given (e.g. PostgreSQL), else the SQLite file tmp_dir/app.db.
    `project_root` is the checkout whose code runs (the benchmark compares another one's).
    """
    database = tmp_dir / "app.db"
    port = free_port()
    log = tmp_dir / f"server-{port}.log"
    env = server_env(database_url or database, **env_overrides)
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.server", "--host", "127.0.0.1", "--port", str(port)],
            cwd=project_root,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return Server(f"http://127.0.0.1:{port}", database, process, log, env)


def wait_healthy(server: Server, seconds: float = 30) -> None:
    """Wait for /health to be 200; raise with the server's log if it exits or takes too long."""
    deadline = time.monotonic() + seconds
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not become healthy:\n{server.log.read_text()}")
        time.sleep(0.05)


@contextmanager
def running_server(
    tmp_dir: Path, database_url: str = "", *, project_root: Path = PROJECT_ROOT, **env_overrides: str
) -> Iterator[Server]:
    """A started and healthy server (see start_server), stopped at the end."""
    server = start_server(tmp_dir, database_url, project_root=project_root, **env_overrides)
    try:
        wait_healthy(server)
        yield server
    finally:
        server.stop()


def unique_name(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def signup(
    client: httpx.Client, user_name: str, password: str = "password-123", **extra: object
) -> httpx.Response:
    return client.post("/users/create_user", json={"user_name": user_name, "password": password, **extra})


def login(client: httpx.Client, user_name: str, password: str = "password-123") -> httpx.Response:
    return client.post("/auth/token", data={"username": user_name, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_user(client: httpx.Client, prefix: str = "user", password: str = "password-123") -> tuple[dict, dict]:
    """Sign up and log in a fresh user; return (the created user, auth headers)."""
    name = unique_name(prefix)
    created = signup(client, name, password)
    assert created.status_code == 201, created.text
    token = login(client, name, password)
    assert token.status_code == 200, token.text
    return created.json(), bearer(token.json()["access_token"])
