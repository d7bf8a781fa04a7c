"""The README's first quick-start step, `invoke serve`, run as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import PROJECT_ROOT, free_port, sqlite_url

pytestmark = pytest.mark.slow  # see conftest.py


def test_invoke_serve_migrates_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "ADMIN_", "APP_ENV"))}
    env["DATABASE_URL"] = sqlite_url(tmp_path / "data" / "app.db")
    serve = subprocess.Popen(
        [sys.executable, "-m", "invoke", "serve", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert serve.poll() is None, serve.stdout.read() if serve.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "invoke serve did not start"
                time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["status"] == "ok"
        assert (tmp_path / "data" / "app.db").is_file(), "the SQLite file is created and migrated"
    finally:
        serve.send_signal(signal.SIGINT)  # what Ctrl+C sends
        output, _ = serve.communicate(timeout=30)
    assert serve.returncode == 0, output
    lines = output.strip().splitlines()
    assert (
        lines[0]
        == f"API: http://127.0.0.1:{port}  interactive docs: http://127.0.0.1:{port}/docs  (Ctrl+C stops)"
    )
    assert lines[-1] == "API server stopped."
    assert "Traceback" not in output
