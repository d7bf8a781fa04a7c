"""Test helpers: the real API server process and its client helpers live in devtools/api_server.py, which the
benchmark shares; the tests import them from here."""

import signal

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


def as_in_a_terminal() -> None:
    """`preexec_fn` for a child that a test stops with SIGINT, as Ctrl+C in a terminal would. A shell starts a
    background job (`pytest &`, nohup, some CI runners) with SIGINT ignored and its children inherit that, so
    Python would never raise KeyboardInterrupt in them: the child gets the default disposition back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


__all__ = [
    "as_in_a_terminal",
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
