"""The API benchmark: the server started as the container starts it, driven by wrk over loopback.

    python bench/run.py [--duration 5] [--connections 16] [--repeat 3] [--journals wal-exclusive,delete]
                        [--databases sqlite,postgres] [--postgres-driver psycopg]

Each scenario runs `--repeat` times; the table shows medians. Ratios (health during a login storm versus
idle) come from the same run. Results are also written to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import Server, new_user, running_server  # noqa: E402

LUA = ROOT / "bench" / "wrk_report.lua"
RESULTS = ROOT / "bench" / "results" / "latest.json"
PASSWORD = "bench-password-1"  # noqa: S105 (a throwaway user on a throwaway database)
TARGETS = {  # scenario: (minimum req/s, maximum p99 ms)
    "location writes": (2000, 50),
    "get_locations, 3 users, 100 rows": (1500, 50),
    "get_locations, 3 users, 100,000 rows": (1500, 50),
}
STORM_RATIO_TARGET = 0.5


@dataclass
class Measurement:
    scenario: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Request:
    path: str
    method: str = "GET"
    body: str = ""
    token: str = ""
    content_type: str = "application/json"


def wrk(base_url: str, request: Request, seconds: int, connections: int) -> subprocess.Popen[str]:
    env = os.environ | {
        "WRK_METHOD": request.method,
        "WRK_BODY": request.body,
        "WRK_TOKEN": request.token,
        "WRK_CONTENT_TYPE": request.content_type,
    }
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(LUA), base_url + request.path]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def report(process: subprocess.Popen[str]) -> dict:
    output, _ = process.communicate()
    for line in output.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line.removeprefix("WRK_JSON "))
    raise RuntimeError(f"wrk printed no summary:\n{output}")


def measure(name: str, runs: list[dict]) -> Measurement:
    rates = [run["requests"] / (run["duration_us"] / 1e6) for run in runs]
    return Measurement(
        scenario=name,
        requests_per_s=round(statistics.median(rates)),
        p50_ms=round(statistics.median(run["p50_us"] for run in runs) / 1000, 1),
        p99_ms=round(statistics.median(run["p99_us"] for run in runs) / 1000, 1),
        errors=sum(run["non2xx"] + run["socket_errors"] for run in runs),
    )


@dataclass
class Bench:
    seconds: int
    connections: int
    repeat: int

    def run(self, name: str, server: Server, request: Request) -> Measurement:
        print(f"  {name} ...", end="", flush=True)
        runs = [
            report(wrk(server.base_url, request, self.seconds, self.connections)) for _ in range(self.repeat)
        ]
        result = measure(name, runs)
        print(f" {result.requests_per_s} req/s, p99 {result.p99_ms} ms")
        return result

    def run_during_storm(
        self, name: str, server: Server, request: Request, storm: Request
    ) -> tuple[Measurement, Measurement]:
        """`request` measured while 4 clients log in back to back; returns it and the logins' own numbers."""
        print(f"  {name} ...", end="", flush=True)
        runs, login_runs = [], []
        for _ in range(self.repeat):
            logins = wrk(server.base_url, storm, self.seconds + 1, 4)
            runs.append(report(wrk(server.base_url, request, self.seconds, self.connections)))
            login_runs.append(report(logins))
        result = measure(name, runs)
        logins_result = measure("logins during that storm (bcrypt cost 10)", login_runs)
        print(
            f" {result.requests_per_s} req/s, p99 {result.p99_ms} ms; {logins_result.requests_per_s} logins/s"
        )
        return result, logins_result


def seed_history(database: Path, user_ids: list[int], rows: int) -> None:
    """Write history straight into the (stopped) server's file: far faster than through the API."""
    with closing(sqlite3.connect(database)) as db, db:
        db.executemany(
            "INSERT INTO locations (user_id, lat, lng) VALUES (?, ?, ?)",
            ((user_ids[i % len(user_ids)], (i % 180) - 89.5, (i % 360) - 179.5) for i in range(rows)),
        )


SECRET = secrets.token_urlsafe(48)  # one key for every restart, so tokens stay valid


@contextmanager
def server_on(workdir: Path, journal: str, database_url: str = "") -> Iterator[Server]:
    """The container's start command with the production bcrypt cost, as a real process."""
    overrides = {
        "BCRYPT_ROUNDS": "10",
        "SQLITE_JOURNAL": journal,
        "APP_ENV": "prod",
        "JWT_SECRET_KEY": SECRET,
    }
    with running_server(workdir, database_url, **overrides) as server:
        yield server


def bench_journal(bench: Bench, workdir: Path, journal: str, full: bool) -> list[Measurement]:
    label = "" if journal == "wal-exclusive" else f" ({journal} journal)"
    results = []
    with server_on(workdir, journal) as server, httpx.Client(base_url=server.base_url) as client:
        token = new_user(client, "writer", PASSWORD)[1]["Authorization"].removeprefix("Bearer ")
        targets = [new_user(client, "target", PASSWORD)[0] for _ in range(3)]
        target_ids = [user["id"] for user in targets]
        if full:
            results.append(bench.run("health (idle)", server, Request("/health")))
        write = Request("/location/update", "POST", '{"lat": 48.85837, "lng": 2.294481}', token)
        results.append(bench.run(f"location writes{label}", server, write))
        if not full:
            return results
    # Start the read scenarios from a known history: 100 rows, then 100,000 rows, for the same 3 users.
    with closing(sqlite3.connect(server.database)) as db, db:
        db.execute("DELETE FROM locations")
    read = Request("/location/get_locations", "POST", json.dumps({"ids": target_ids}), token)
    for rows, name in ((100, "100 rows"), (100_000, "100,000 rows")):
        seed_history(server.database, target_ids, rows - _count(server.database))
        with server_on(workdir, journal) as server:
            results.append(bench.run(f"get_locations, 3 users, {name}", server, read))
    with server_on(workdir, journal) as server:
        storm = Request(
            "/auth/token",
            "POST",
            f"username={targets[0]['user_name']}&password={PASSWORD}",
            content_type="application/x-www-form-urlencoded",
        )
        health = Request("/health")
        results += bench.run_during_storm("health during a login storm (4 clients)", server, health, storm)
    return results


POSTGRES_ADMIN_URL = os.environ.get("ECS1_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the PostgreSQL server, dropped after (the libpq URL)."""
    import psycopg

    name = f"ecs1_bench_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_postgres(bench: Bench, workdir: Path, driver: str) -> list[Measurement]:
    """The same scenarios on one PostgreSQL database (the PostgreSQL mode), one server process."""
    import psycopg

    label = f" [PostgreSQL, {driver}]"
    results = []
    with postgres_database() as libpq_url:
        app_url = libpq_url.replace("postgresql://", f"postgresql+{driver}://", 1)
        with (
            server_on(workdir, "wal-exclusive", app_url) as server,
            httpx.Client(base_url=server.base_url) as client,
        ):
            token = new_user(client, "writer", PASSWORD)[1]["Authorization"].removeprefix("Bearer ")
            targets = [new_user(client, "target", PASSWORD)[0] for _ in range(3)]
            target_ids = [user["id"] for user in targets]
            results.append(bench.run(f"health (idle){label}", server, Request("/health")))
            write = Request("/location/update", "POST", '{"lat": 48.85837, "lng": 2.294481}', token)
            results.append(bench.run(f"location writes{label}", server, write))
            read = Request("/location/get_locations", "POST", json.dumps({"ids": target_ids}), token)
            for rows, name in ((100, "100 rows"), (100_000, "100,000 rows")):
                with psycopg.connect(libpq_url, autocommit=True) as db:
                    db.execute("DELETE FROM locations")
                    db.execute(
                        "INSERT INTO locations (user_id, lat, lng) SELECT (%s::bigint[])[1 + i %% 3], "
                        "(i %% 180) - 89.5, (i %% 360) - 179.5 FROM generate_series(0, %s - 1) AS i",
                        (target_ids, rows),
                    )
                    db.execute("ANALYZE locations")
                results.append(bench.run(f"get_locations, 3 users, {name}{label}", server, read))
    return results


def _count(database: Path) -> int:
    with closing(sqlite3.connect(database)) as db, db:
        return db.execute("SELECT count(*) FROM locations").fetchone()[0]


def verdicts(results: list[Measurement]) -> list[str]:
    by_name = {m.scenario: m for m in results}
    lines = []
    for name, (rate, p99) in TARGETS.items():
        if name in by_name:
            m = by_name[name]
            ok = m.requests_per_s >= rate and m.p99_ms <= p99 and m.errors == 0
            verdict = "PASS" if ok else "MISS"
            lines.append(
                f"{verdict}  {name}: {m.requests_per_s} req/s (>= {rate}), p99 {m.p99_ms} ms (<= {p99})"
            )
    idle, storm = by_name.get("health (idle)"), by_name.get("health during a login storm (4 clients)")
    if idle and storm:
        ratio = storm.requests_per_s / idle.requests_per_s
        ok = ratio >= STORM_RATIO_TARGET
        lines.append(f"{'PASS' if ok else 'MISS'}  health during a login storm: {ratio:.0%} of idle (>= 50%)")
    return lines


def table(results: list[Measurement]) -> str:
    lines = ["| scenario | req/s | p50 ms | p99 ms | errors |", "|---|---:|---:|---:|---:|"]
    lines += [
        f"| {m.scenario} | {m.requests_per_s:,} | {m.p50_ms} | {m.p99_ms} | {m.errors} |" for m in results
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario; the table shows medians")
    parser.add_argument(
        "--journals", default="wal-exclusive,delete", help="SQLite journals to compare on writes"
    )
    parser.add_argument(
        "--databases", default="sqlite,postgres", help="engines to run (postgres: ECS1_BENCH_POSTGRES_URL)"
    )
    parser.add_argument("--postgres-driver", default="psycopg", choices=["psycopg", "asyncpg"])
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("error: wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    bench = Bench(args.duration, args.connections, args.repeat)
    results: list[Measurement] = []
    journals = [j.strip() for j in args.journals.split(",") if j.strip()]
    setup = f"{args.connections} connections, {args.repeat} x {args.duration} s per scenario"
    print(f"benchmark: {setup}, {os.cpu_count()} cores")
    databases = {d.strip() for d in args.databases.split(",") if d.strip()}
    if "sqlite" in databases:
        for index, journal in enumerate(journals):
            with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
                results += bench_journal(bench, Path(workdir), journal, full=index == 0)
    if "postgres" in databases:
        with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
            results += bench_postgres(bench, Path(workdir), args.postgres_driver)
    print()
    print(table(results))
    print()
    for line in verdicts(results):
        print(line)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([asdict(m) for m in results], indent=2) + "\n")
    print(f"\nbenchmark done: {len(results)} scenarios; results in {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
