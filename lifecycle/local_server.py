"""`invoke serve`: the API run locally exactly as the container runs it (`python -m app.server`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping

from lifecycle.errors import LifecycleError

# What ends `invoke serve`: Ctrl+C, `kill`/`timeout` (SIGTERM) and a closed terminal (SIGHUP).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def check_port_free(host: str, port: int) -> None:
    """Fail before anything is printed or migrated when the address is taken.

    socket.create_server sets SO_REUSEADDR as uvicorn does, so a port in TIME_WAIT is not mistaken for taken.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host, port), family=family):
            pass
    except OSError as exc:
        # create_server's own strerror repeats the address ("... (while attempting to bind on address ...)").
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise LifecycleError(
            f"cannot listen on {host}:{port} ({reason}): stop what uses it, or pass --port with another port"
        ) from None


def run_server(host: str, port: int, reload: bool, environ: Mapping[str, str] | None = None) -> int:
    """Run `python -m app.server` until it ends; return its exit code.

    The server gets its own session so that a terminal's Ctrl+C reaches it once, through here, rather than
    twice (a second SIGINT makes uvicorn skip its graceful shutdown). Each stop signal this process receives
    is passed on: SIGINT as SIGINT, SIGTERM and SIGHUP as SIGTERM (uvicorn's graceful shutdown), so the
    server never outlives `invoke serve` and never keeps the port.
    """
    command = [sys.executable, "-m", "app.server", "--host", host, "--port", str(port)]
    command += ["--reload"] if reload else []
    received: list[int] = []
    server: subprocess.Popen[bytes] | None = None

    def pass_on(signum: int) -> None:
        if server is not None:
            server.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        pass_on(signum)

    # Installed before the server starts, so that no signal can end this process and leave the server behind.
    previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
    try:
        env = dict(os.environ if environ is None else environ)
        server = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603
        for signum in received:
            pass_on(signum)
        return server.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
