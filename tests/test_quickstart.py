"""The README's quick start, run as a user runs it: `./dev` and `invoke serve`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import PROJECT_ROOT, free_port, sqlite_url

pytestmark = pytest.mark.slow  # see conftest.py


def serve_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "ADMIN_", "APP_ENV"))}
    return {**env, "DATABASE_URL": sqlite_url(tmp_path / "data" / "app.db")}


def start_serve(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    """`invoke serve` without a terminal; returns once the API answers on `port`."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "invoke", "serve", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=serve_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        if serve.poll() is not None:
            pytest.fail(serve.stdout.read() if serve.stdout else "invoke serve ended")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1).status_code == 200:
                return serve
        except httpx.TransportError:
            if time.monotonic() > deadline:
                serve.kill()
                pytest.fail("invoke serve did not start")
            time.sleep(0.1)


def answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    except httpx.TransportError:
        return False
    return True


def docs_assets(base_url: str, page: str) -> list[str]:
    """The scripts, styles and schema a docs page loads (FastAPI's default pages name a CDN's URLs)."""
    html = httpx.get(f"{base_url}{page}").text
    return [a or b for a, b in re.findall(r'(?:src|href)="([^"]+)"|url: *[\'"]([^\'"]+)', html)]


def test_invoke_serve_migrates_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    serve = start_serve(tmp_path, port)
    try:
        assert httpx.get(f"{base_url}/health").json()["status"] == "ok"
        assert (tmp_path / "data" / "app.db").is_file(), "the SQLite file is created and migrated"
        # Offline, the interactive docs still work: every asset comes from the server itself.
        assets = docs_assets(base_url, "/docs")
        assert any(asset.endswith(".js") for asset in assets) and "/openapi.json" in assets
        for asset in assets:
            assert asset.startswith("/"), f"{asset} is not served by the API"
            assert httpx.get(f"{base_url}{asset}").status_code == 200, asset
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


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_killed_or_hung_up_invoke_serve_takes_its_server_with_it(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """`timeout`, `kill` and a closed terminal signal invoke only: the server must not outlive it."""
    port = free_port()
    serve = start_serve(tmp_path, port)
    serve.send_signal(stop)
    try:
        output, _ = serve.communicate(timeout=30)
    finally:
        serve.kill()
    assert not answers(port), "the server still answers after invoke serve ended"
    with socket.create_server(("127.0.0.1", port)):
        pass  # the port is free again
    assert output.strip().splitlines()[-1] == "API server stopped."


def test_a_taken_port_is_one_line_before_anything_else(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "invoke", "serve", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=serve_env(tmp_path),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == "", "no banner for a server that cannot start"
    assert result.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port} (Address already in use): stop what uses it, or pass "
        "--port with another port"
    ]
    assert not (tmp_path / "data").exists(), "nothing migrated"


def test_dev_refuses_clearly_when_python3_lacks_venv(tmp_path: Path) -> None:
    """Debian and Ubuntu ship ensurepip in python3-venv: without it, `python3 -m venv` leaves a venv with no
    pip. Here a module on PYTHONPATH stands in for the missing package (its real absence cannot be arranged
    on this machine), and the script must say what to install and leave no half-made .venv behind."""
    shutil.copy(PROJECT_ROOT / "dev", tmp_path / "dev")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    missing = tmp_path / "without-ensurepip"
    missing.mkdir()
    (missing / "ensurepip.py").write_text("raise ImportError('No module named ensurepip')\n")
    python_bin = Path(sys.executable).parent  # holds a python3 (a venv's or an installation's)
    env = {"PATH": f"{python_bin}:/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(missing)}
    result = subprocess.run(
        [str(tmp_path / "dev"), "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: python3 has no venv module: install it (Debian/Ubuntu: apt-get install python3-venv) "
        "and run again"
    )
    assert not (tmp_path / ".venv").exists()


def test_dev_refuses_clearly_without_python3(tmp_path: Path) -> None:
    shutil.copy(PROJECT_ROOT / "dev", tmp_path / "dev")
    empty = tmp_path / "bin"
    empty.mkdir()
    for tool in ("dirname", "cmp", "cp", "rm"):
        (empty / tool).symlink_to(shutil.which(tool, path="/usr/bin:/bin") or f"/bin/{tool}")
    result = subprocess.run(
        ["/bin/sh", str(tmp_path / "dev"), "test"],
        cwd=tmp_path,
        env={"PATH": str(empty), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: python3 not found: install Python 3.11 or newer")
