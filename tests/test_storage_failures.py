"""Failing storage under the real server process: /health tells the truth, writes are refused with a 503
that keeps the connection, a damaged file is refused at start, and acknowledged writes have been fsynced.

The faults are real ones, made as root: a full tmpfs, an ext4 image whose journal is aborted
(what the kernel does to a file system on I/O errors), a data folder removed while serving, a PostgreSQL cut
off by a TCP relay the test closes. Each test
skips with the reason when this machine does not allow it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import PROJECT_ROOT, Server, new_user, running_server, server_env, sqlite_url

pytestmark = pytest.mark.slow  # see conftest.py

WRITE = {"lat": 48.85837, "lng": 2.294481}


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@contextmanager
def mounted(mount_point: Path, *mount_args: str) -> Iterator[Path]:
    mount_point.mkdir(parents=True, exist_ok=True)
    result = run("mount", *mount_args, str(mount_point))
    if result.returncode != 0:
        pytest.skip(f"cannot mount a file system here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        run("umount", "-l", str(mount_point))


class Connection:
    """One keep-alive HTTP connection, to see whether the server keeps it after an error."""

    def __init__(self, server: Server, headers: dict[str, str]) -> None:
        self._http = http.client.HTTPConnection(server.base_url.removeprefix("http://"), timeout=10)
        self._headers = headers

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, dict]:
        headers = {**self._headers, "Content-Type": "application/json"}
        self._http.request(method, path, body=json.dumps(body) if body else None, headers=headers)
        response = self._http.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())

    def same_socket_answers(self) -> bool:
        sock = self._http.sock
        status, _, _ = self.request("GET", "/")
        return sock is not None and self._http.sock is sock and status == 200

    def close(self) -> None:
        self._http.close()


def assert_unavailable(status: int, headers: dict, body: dict) -> None:
    assert status == 503, body
    assert int(headers["retry-after"]) > 0
    assert isinstance(body["detail"], str)


def health(server: Server) -> httpx.Response:
    return httpx.get(f"{server.base_url}/health", timeout=10)


def writer(server: Server) -> Connection:
    with httpx.Client(base_url=server.base_url) as client:
        headers = new_user(client, "writer")[1]
    connection = Connection(server, headers)
    status, _, body = connection.request("POST", "/location/update", WRITE)
    assert status == 201, body
    return connection


def test_a_removed_data_folder_fails_health_and_writes(tmp_path: Path) -> None:
    """rm -rf of the data folder: writes would go into a deleted file and be lost, so none is acknowledged."""
    data = tmp_path / "data"
    with running_server(tmp_path, DATABASE_URL=sqlite_url(data / "app.db")) as server:
        connection = writer(server)
        shutil.rmtree(data)
        assert_unavailable(*connection.request("POST", "/location/update", WRITE))
        assert connection.same_socket_answers(), "the 503 must keep the keep-alive connection usable"
        answer = health(server)
        assert answer.status_code == 503 and answer.json()["status"] == "unavailable"
        connection.close()


def test_a_full_file_system_fails_health_and_writes_until_space_returns(tmp_path: Path) -> None:
    with mounted(tmp_path / "small", "-t", "tmpfs", "-o", "size=4m", "tmpfs") as disk:
        with running_server(tmp_path, DATABASE_URL=sqlite_url(disk / "app.db")) as server:
            connection = writer(server)
            filler = disk / "filler"
            with filler.open("wb") as out:
                try:
                    while True:
                        out.write(b"\0" * 65536)
                        out.flush()
                except OSError:
                    pass
            assert health(server).status_code == 503
            assert_unavailable(*connection.request("POST", "/location/update", WRITE))
            assert connection.same_socket_answers()
            filler.unlink()
            assert health(server).status_code == 200
            assert connection.request("POST", "/location/update", WRITE)[0] == 201
            connection.close()


def test_a_failing_file_system_fails_health_and_writes(tmp_path: Path) -> None:
    """An ext4 file system whose journal is aborted, as the kernel does on I/O errors: every write fails."""
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 is not installed")
    image = tmp_path / "disk.img"
    with image.open("wb") as out:
        out.truncate(16 * 1024 * 1024)
    assert run("mkfs.ext4", "-q", "-F", str(image)).returncode == 0
    with mounted(tmp_path / "ext4", "-o", "loop", str(image)) as disk:
        with running_server(tmp_path, DATABASE_URL=sqlite_url(disk / "app.db")) as server:
            connection = writer(server)
            assert health(server).status_code == 200
            aborted = run("mount", "-o", "remount,abort", str(disk))
            if aborted.returncode != 0:
                pytest.skip(f"cannot abort the file system: {aborted.stderr.strip()}")
            assert_unavailable(*connection.request("POST", "/location/update", WRITE))
            assert connection.same_socket_answers()
            assert health(server).status_code == 503
            connection.close()


def test_a_damaged_database_is_refused_at_start(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        pass
    with closing(sqlite3.connect(server.database)) as db, db:
        db.executemany(
            "INSERT INTO locations (user_id, lat, lng) VALUES (1, ?, ?)",
            ((i % 90, i % 180) for i in range(20000)),
        )
    size = server.database.stat().st_size
    with server.database.open("r+b") as out:
        out.seek(size // 2)
        out.write(os.urandom(8192))
    env = server_env(server.database)
    try:
        start = subprocess.run(
            [sys.executable, "-m", "app.server", "--port", "0"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the server started on a damaged database")
    lines = start.stderr.strip().splitlines()
    assert start.returncode != 0
    assert lines[-1].startswith("error: the database") and "integrity check" in lines[-1], start.stderr
    assert "Traceback" not in start.stderr


def test_an_acknowledged_write_has_been_fsynced(tmp_path: Path) -> None:
    """A 201 means the write would survive a crash of the machine: its commit reached the disk (fsync)."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    with running_server(tmp_path) as server:
        connection = writer(server)
        trace = tmp_path / "sync.trace"
        strace = subprocess.Popen(
            [
                "strace",
                "-f",
                "-qq",
                "-e",
                "trace=fsync,fdatasync",
                "-o",
                str(trace),
                "-p",
                str(server.process.pid),
            ],
            stderr=subprocess.PIPE,
        )
        time.sleep(1)  # strace attaches to every thread before it reports anything
        if strace.poll() is not None:
            pytest.skip(f"cannot trace the server: {strace.stderr.read().decode().strip()}")
        writes = 5
        for _ in range(writes):  # one at a time: each is its own group commit
            assert connection.request("POST", "/location/update", WRITE)[0] == 201
        strace.send_signal(signal.SIGINT)
        strace.wait(timeout=10)
        connection.close()
    syncs = [line for line in trace.read_text().splitlines() if "sync(" in line]
    assert len(syncs) >= writes, trace.read_text()


class Relay:
    """A TCP relay to PostgreSQL that the test can cut, as a network partition or a stopped server would."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would leave it accepting.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh database on the PostgreSQL at 127.0.0.1:5432 (skipped when none answers), dropped after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    name = f"storage_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432: {exc.orig}")
    try:
        yield name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_an_unreachable_postgresql_answers_503_and_keeps_the_connection(
    tmp_path: Path, postgres_database: str
) -> None:
    relay = Relay(("127.0.0.1", 5432))
    url = f"postgresql+psycopg://postgres@127.0.0.1:{relay.port}/{postgres_database}"
    with running_server(tmp_path, DATABASE_URL=url) as server:
        connection = writer(server)
        relay.cut()
        assert_unavailable(*connection.request("POST", "/location/update", WRITE))
        assert connection.same_socket_answers()
        assert health(server).status_code == 503
        connection.close()
