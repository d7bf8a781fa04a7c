"""Test helpers: the real API server process and its client helpers live in devtools/api_server.py, which the
benchmark shares; the tests import them from here."""

from devtools.api_server import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    PROJECT_ROOT,
    Server,
    bearer,
    free_port,
    login,
    new_user,
    running_server,
    server_env,
    signup,
    sqlite_url,
    start_server,
    unique_name,
    wait_healthy,
)

__all__ = [
    "ADMIN_NAME",
    "ADMIN_PASSWORD",
    "PROJECT_ROOT",
    "Server",
    "bearer",
    "free_port",
    "login",
    "new_user",
    "running_server",
    "server_env",
    "signup",
    "sqlite_url",
    "start_server",
    "unique_name",
    "wait_healthy",
]
