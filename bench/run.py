"""The API benchmark: the server started as the container starts it, driven by wrk over loopback.

    python bench/run.py [--duration 5] [--connections 16] [--repeat 3] [--journals wal-exclusive,delete]
                        [--baseline ../main] [--only api,writes,guessing]
                        [--databases sqlite,postgres] [--postgres-driver psycopg]

Each scenario runs `--repeat` times; the table shows medians. Ratios (health during a login storm versus
idle) come from the same run. Location writes are measured durable (the default), not durable
(SQLITE_SYNCHRONOUS=normal) and, with --baseline, from another checkout's code, with their runs interleaved
so that the machine's other load falls on each alike. Results are also written to bench/results/latest.json.
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
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.config import Settings  # noqa: E402
from devtools.api_server import Server, new_user, running_server  # noqa: E402

LUA = ROOT / "bench" / "wrk_report.lua"
RESULTS = ROOT / "bench" / "results" / "latest.json"
PASSWORD = "bench-password-1"  # noqa: S105 (a throwaway user on a throwaway database)
WRITES = "location writes (durable: SQLITE_SYNCHRONOUS=full, the default)"
NOT_DURABLE = "location writes, not durable (SQLITE_SYNCHRONOUS=normal)"
BASELINE = "location writes, baseline checkout"
# Writes are also measured with this many times the connections: group commit pays one fsync per batch, so
# the more writers wait together, the less each pays; a few closed-loop clients are bound by its latency.
MANY_WRITERS = 4
BASELINE_SHARE_TARGET = 0.9
GUESSERS = 64
OWNER_LOGINS = "the owner's logins from another address meanwhile"
OWNER_P50_TARGET_MS = 1000
TARGETS = {  # scenario: (minimum req/s, maximum p99 ms)
    WRITES: (2000, 50),
    "get_locations, 3 users, 100 rows": (1500, 50),
    "get_locations, 3 users, 100,000 rows": (1500, 50),
}
STORM_RATIO_TARGET = 0.5
GROUPS = ("writes", "guessing", "api")


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
    forwarded_for: str = ""
    count_status: int = 0  # also count the answers with this status (the `with_status` field)


def wrk(base_url: str, request: Request, seconds: int, connections: int) -> subprocess.Popen[str]:
    env = os.environ | {
        "WRK_METHOD": request.method,
        "WRK_BODY": request.body,
        "WRK_TOKEN": request.token,
        "WRK_CONTENT_TYPE": request.content_type,
        "WRK_FORWARDED_FOR": request.forwarded_for,
        "WRK_COUNT_STATUS": str(request.count_status or ""),
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


# The container's settings, not the test suite's: production bcrypt cost and throttles.
PRODUCTION = {
    "BCRYPT_ROUNDS": "10",
    "APP_ENV": "prod",
    "JWT_SECRET_KEY": SECRET,
    **{
        name.upper(): str(Settings.model_fields[name].default)
        for name in Settings.model_fields
        if name.startswith(("login_", "signup_"))
    },
}


@contextmanager
def server_on(
    workdir: Path, journal: str, root: Path = ROOT, database_url: str = "", **overrides: str
) -> Iterator[Server]:
    """The container's start command with the production settings, as a real process."""
    with running_server(
        workdir, database_url, project_root=root, **PRODUCTION, SQLITE_JOURNAL=journal, **overrides
    ) as server:
        yield server


def write_request(server: Server) -> Request:
    with httpx.Client(base_url=server.base_url) as client:
        token = new_user(client, "writer", PASSWORD)[1]["Authorization"].removeprefix("Bearer ")
    return Request("/location/update", "POST", '{"lat": 48.85837, "lng": 2.294481}', token)


def compare_writes(bench: Bench, workdir: Path, baseline: Path | None) -> list[Measurement]:
    """Location writes durable and not, and from the baseline checkout, interleaved run by run, with the
    bench's connections and MANY_WRITERS times as many."""
    variants: dict[str, tuple[Path, dict[str, str]]] = {
        WRITES: (ROOT, {}),
        NOT_DURABLE: (ROOT, {"SQLITE_SYNCHRONOUS": "normal"}),
    }
    if baseline is not None:
        variants[f"{BASELINE} ({baseline})"] = (baseline, {"PYTHONPATH": str(baseline)})
    print(f"  location writes: {', '.join(variants)} ...", flush=True)
    results = []
    with ExitStack() as servers:
        targets = {}
        for index, (name, (root, overrides)) in enumerate(variants.items()):
            folder = workdir / f"writes-{index}"
            folder.mkdir()
            server = servers.enter_context(server_on(folder, "wal-exclusive", root, **overrides))
            targets[name] = (server, write_request(server))
        for connections in (bench.connections, bench.connections * MANY_WRITERS):
            suffix = "" if connections == bench.connections else f", {connections} connections"
            runs: dict[str, list[dict]] = {name: [] for name in variants}
            for _ in range(bench.repeat):
                for name, (server, request) in targets.items():
                    runs[name].append(report(wrk(server.base_url, request, bench.seconds, connections)))
            results += [measure(name + suffix, name_runs) for name, name_runs in runs.items()]
    for result in results:
        print(f"    {result.scenario}: {result.requests_per_s} req/s, p99 {result.p99_ms} ms")
    return results


def owner_logins(server: Server, user_name: str, seconds: float) -> tuple[list[float], int]:
    """Log in back to back from the owner's address for `seconds`: each login's latency (s), and failures."""
    latencies, failures = [], 0
    form = {"username": user_name, "password": PASSWORD}
    with httpx.Client(base_url=server.base_url, headers={"X-Forwarded-For": "198.51.100.20"}) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start = time.perf_counter()
            answer = client.post("/auth/token", data=form, timeout=30)
            latencies.append(time.perf_counter() - start)
            failures += answer.status_code != 200
    return latencies, failures


def bench_guessing(bench: Bench, workdir: Path) -> list[Measurement]:
    """64 clients guess one account's password from one address; its owner logs in from another."""
    print(f"  {GUESSERS} guessers against one account ...", end="", flush=True)
    # The bench stands in for API Gateway on 127.0.0.1, so the addresses come from X-Forwarded-For.
    with server_on(workdir, "wal-exclusive", FORWARDED_ALLOW_IPS="127.0.0.1") as server:
        with httpx.Client(base_url=server.base_url) as client:
            owner = new_user(client, "owner", PASSWORD)[0]["user_name"]
        guess = Request(
            "/auth/token",
            "POST",
            f"username={owner}&password=not-the-password",
            content_type="application/x-www-form-urlencoded",
            forwarded_for="203.0.113.66",
            count_status=429,
        )
        latencies: list[float] = []
        failures, guess_runs = 0, []
        for _ in range(bench.repeat):
            guessers = wrk(server.base_url, guess, bench.seconds + 1, GUESSERS)
            time.sleep(0.5)  # the guessers first, so the owner meets them at full speed
            run_latencies, run_failures = owner_logins(server, owner, bench.seconds)
            latencies += run_latencies
            failures += run_failures
            guess_runs.append(report(guessers))
    guesses = sum(run["requests"] for run in guess_runs)
    refused = sum(run["with_status"] for run in guess_runs) / max(guesses, 1)
    guessers_result = measure(f"{GUESSERS} guessers, one address ({refused:.2%} answered 429)", guess_runs)
    guessers_result.errors = sum(run["socket_errors"] for run in guess_runs)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    owner_result = Measurement(
        scenario=OWNER_LOGINS,
        requests_per_s=round(len(latencies) / (bench.seconds * bench.repeat)),
        p50_ms=round(cuts[49] * 1000, 1),
        p99_ms=round(cuts[98] * 1000, 1),
        errors=failures,
    )
    print(f" owner p50 {owner_result.p50_ms} ms, p99 {owner_result.p99_ms} ms; {refused:.2%} of guesses 429")
    return [guessers_result, owner_result]


def shared_targets(client: httpx.Client, reader: str, count: int = 3) -> list[dict]:
    """`count` new users who share their location with `reader`: locations are private unless shared, so a
    get_locations of anyone else's would measure empty answers."""
    targets = []
    for _ in range(count):
        user, headers = new_user(client, "target", PASSWORD)
        client.put(f"/location/shared_with/{reader}", headers=headers).raise_for_status()
        targets.append(user)
    return targets


def bench_journal(bench: Bench, workdir: Path, journal: str, full: bool) -> list[Measurement]:
    label = "" if journal == "wal-exclusive" else f" ({journal} journal)"
    results = []
    with server_on(workdir, journal) as server, httpx.Client(base_url=server.base_url) as client:
        writer, writer_headers = new_user(client, "writer", PASSWORD)
        token = writer_headers["Authorization"].removeprefix("Bearer ")
        targets = shared_targets(client, writer["user_name"])
        target_ids = [user["id"] for user in targets]
        if not full:
            write = Request("/location/update", "POST", '{"lat": 48.85837, "lng": 2.294481}', token)
            return [bench.run(f"location writes{label}", server, write)]
        results.append(bench.run("health (idle)", server, Request("/health")))
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
            server_on(workdir, "wal-exclusive", database_url=app_url) as server,
            httpx.Client(base_url=server.base_url) as client,
        ):
            writer, writer_headers = new_user(client, "writer", PASSWORD)
            token = writer_headers["Authorization"].removeprefix("Bearer ")
            targets = shared_targets(client, writer["user_name"])
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
    for durable in (m for m in results if m.scenario.startswith(WRITES)):
        suffix = durable.scenario.removeprefix(WRITES)
        baseline = next(
            (
                m
                for m in results
                if m.scenario.startswith(BASELINE) and m.scenario.rsplit(")", 1)[1] == suffix
            ),
            None,
        )
        if baseline:
            share = durable.requests_per_s / baseline.requests_per_s
            ok = share >= BASELINE_SHARE_TARGET
            lines.append(
                f"{'PASS' if ok else 'MISS'}  durable location writes{suffix}: "
                f"{share:.0%} of the baseline's (>= 90%)"
            )
    if OWNER_LOGINS in by_name:
        owner = by_name[OWNER_LOGINS]
        ok = owner.p50_ms < OWNER_P50_TARGET_MS and owner.errors == 0
        lines.append(
            f"{'PASS' if ok else 'MISS'}  the owner's login while {GUESSERS} clients guess: "
            f"p50 {owner.p50_ms} ms (< {OWNER_P50_TARGET_MS}), p99 {owner.p99_ms} ms, {owner.errors} failed"
        )
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
        "--databases",
        default="sqlite,postgres",
        help="engines to run the api group on (postgres: ECS1_BENCH_POSTGRES_URL)",
    )
    parser.add_argument("--postgres-driver", default="psycopg", choices=["psycopg", "asyncpg"])
    parser.add_argument(
        "--baseline", type=Path, help="another checkout (e.g. a worktree of main) whose writes to compare"
    )
    parser.add_argument(
        "--only", default=",".join(GROUPS), help=f"scenario groups to run: {', '.join(GROUPS)}"
    )
    args = parser.parse_args(argv)
    groups = {group.strip() for group in args.only.split(",") if group.strip()}
    if unknown := groups - set(GROUPS):
        print(
            f"error: unknown scenario group {sorted(unknown)[0]!r}: use {', '.join(GROUPS)}", file=sys.stderr
        )
        return 2
    databases = {d.strip() for d in args.databases.split(",") if d.strip()}
    if unknown := databases - {"sqlite", "postgres"}:
        print(f"error: unknown database {sorted(unknown)[0]!r}: use sqlite, postgres", file=sys.stderr)
        return 2
    if args.baseline is not None and not (args.baseline / "app" / "server.py").is_file():
        print(f"error: {args.baseline} is not a checkout of this project (no app/server.py)", file=sys.stderr)
        return 2
    if shutil.which("wrk") is None:
        print("error: wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    bench = Bench(args.duration, args.connections, args.repeat)
    results: list[Measurement] = []
    journals = [j.strip() for j in args.journals.split(",") if j.strip()]
    setup = f"{args.connections} connections, {args.repeat} x {args.duration} s per scenario"
    print(f"benchmark: {setup}, {os.cpu_count()} cores")
    if "sqlite" in databases:
        with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
            if "writes" in groups:
                results += compare_writes(bench, Path(workdir), args.baseline and args.baseline.resolve())
            if "guessing" in groups:
                results += bench_guessing(bench, Path(workdir))
        for index, journal in enumerate(journals if "api" in groups else []):
            with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
                results += bench_journal(bench, Path(workdir), journal, full=index == 0)
    if "postgres" in databases and "api" in groups:
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
