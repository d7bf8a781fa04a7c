"""Backups: snapshots taken by the real server process, restored at its next start, refused when unsound.

Real parts: the container's start command (`python -m app.server`) on a real SQLite file with the real
migrations, real HTTP, `invoke backup` / `invoke restore` run as a user runs them, and moto's server for S3,
ECS and CloudFormation. What cannot exist here is a Fargate task behind API Gateway: on the deployed stack
the task side is played by a local server process given the deployed bucket (as the task definition does).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import local_aws
from app.snapshots import S3Store
from lifecycle.backups import request_restore
from lifecycle.backups import utcnow as now
from tests.lifecycle_support import CREDENTIALS, REGION, client, invoke, last_line, moto_server
from tests.support import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    PROJECT_ROOT,
    bearer,
    login,
    new_user,
    running_server,
    signup,
    sqlite_url,
)
from tests.templates_support import load

PASSWORD = "password-123"


def admin(http: httpx.Client) -> dict[str, str]:
    return bearer(login(http, ADMIN_NAME, ADMIN_PASSWORD).json()["access_token"])


def write_locations(http: httpx.Client, headers: dict[str, str], count: int, start: float = 0) -> None:
    for i in range(count):
        response = http.post("/location/update", json={"lat": start + i, "lng": 1.5}, headers=headers)
        assert response.status_code == 201, response.text


def history(http: httpx.Client, user: dict, headers: dict[str, str]) -> list[float]:
    response = http.get("/location/history", params={"user_id": user["id"], "limit": 100}, headers=headers)
    assert response.status_code == 200, response.text
    return sorted(item["lat"] for item in response.json()["items"])


def local_invoke(database: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("ADMIN_", "BACKUP_"))}
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=PROJECT_ROOT,
        env={**clean_env, "DATABASE_URL": sqlite_url(database), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def snapshots(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.glob("*/*.sqlite3"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_local_round_trip_loses_nothing_acknowledged_before_the_snapshot(tmp_path: Path) -> None:
    with running_server(tmp_path) as server, httpx.Client(base_url=server.base_url, timeout=30) as http:
        user, headers = new_user(http, "kept")
        write_locations(http, headers, 5)
        taken = http.post("/admin/backups", headers=admin(http))
        assert taken.status_code == 201, taken.text
        key = taken.json()["key"]
        assert key.startswith("daily/") and taken.json()["bytes"] > 0
        write_locations(http, headers, 3, start=50)  # after the snapshot: these are what a restore loses
        late_user, _ = new_user(http, "late")
        assert http.post("/admin/backups", headers=headers).status_code == 403  # admins only
    # The clean shutdown snapshotted the writes made after the on-demand snapshot.
    assert len(snapshots(tmp_path / "backups")) == 2

    restored = local_invoke(server.database, "restore", "--local", "--key", key, "--yes")
    assert restored.returncode == 0, restored.stderr
    assert f"restore {key}, taken" in restored.stdout and "Lost: every write" in restored.stdout
    assert "1 newer snapshot(s)" in restored.stdout
    assert last_line(restored).startswith(f"restore of {key} requested")

    with running_server(tmp_path) as server, httpx.Client(base_url=server.base_url, timeout=30) as http:
        token = login(http, user["user_name"], PASSWORD)
        assert token.status_code == 200
        assert history(http, user, bearer(token.json()["access_token"])) == [0, 1, 2, 3, 4]
        assert login(http, late_user["user_name"], PASSWORD).status_code == 401
    assert not (tmp_path / "backups" / "restore-request.json").exists()
    kept = list(tmp_path.glob("app.db.before-restore-*"))
    assert [p.name.split("-", 3)[0] for p in kept if not p.name.endswith(("-wal", "-shm"))] == [
        "app.db.before"
    ]
    assert "restored snapshot" in server.log.read_text()


@pytest.mark.slow
def test_invoke_backup_local_goes_through_the_running_api_or_reads_the_stopped_file(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        locked = local_invoke(server.database, "backup", "--local", "--url", server.base_url)
        assert locked.returncode == 1
        assert (
            locked.stderr.strip().startswith("error: the running API holds")
            and locked.stderr.count("\n") == 1
        )
        through = local_invoke(
            server.database,
            "backup",
            "--local",
            "--url",
            server.base_url,
            ADMIN_USERNAME=ADMIN_NAME,
            ADMIN_PASSWORD=ADMIN_PASSWORD,
        )
        assert through.returncode == 0, through.stderr
        assert f"taken by the API at {server.base_url}" in through.stdout
    direct = local_invoke(server.database, "backup", "--local")
    assert direct.returncode == 0, direct.stderr
    assert last_line(direct).startswith("snapshot daily/")
    assert len(snapshots(tmp_path / "backups")) == 2
    listed = local_invoke(server.database, "restore", "--local", "--list")
    assert last_line(listed).startswith("2 snapshot(s) in ")


def wait_for(condition, what: str, polls: int = 300) -> None:
    """Poll until `condition` holds; a bounded number of polls guards against a hang (no timing asserted)."""
    for _ in range(polls):
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"still waiting for {what}")


@pytest.mark.slow
def test_the_schedule_snapshots_once_a_day_and_then_only_when_the_database_changed(tmp_path: Path) -> None:
    """Counted in the schedule's own checks (each logs a snapshot or "nothing changed"), not in seconds: on a
    loaded machine a tick may come late, never out of order."""
    folder = tmp_path / "backups"
    hourly = lambda: [k for k in snapshots(folder) if k.startswith("hourly/")]  # noqa: E731
    settings = {"BACKUP_INTERVAL_SECONDS": "0.2", "LOG_LEVEL": "info"}
    with running_server(tmp_path, **settings) as server:
        unchanged = lambda: server.log.read_text().count("scheduled check: nothing changed")  # noqa: E731
        log = lambda: f"snapshots {snapshots(folder)}; the server's log:\n{server.log.read_text()}"  # noqa: E731

        def checks_with_nothing_to_do(count: int) -> None:
            seen = unchanged()
            wait_for(lambda: unchanged() >= seen + count, f"{count} more checks with nothing to do")

        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            # The first tick keeps the day's snapshot whether or not anything changed.
            wait_for(lambda: [k for k in snapshots(folder) if k.startswith("daily/")], "the daily snapshot")
            checks_with_nothing_to_do(3)
            assert hourly() == [], log()
            _, headers = new_user(http)
            write_locations(http, headers, 1)
            # The sign-up, the log-in and the write may fall on different sides of ticks: one to three
            # snapshots of them, and then checks that find nothing new.
            wait_for(lambda: hourly(), "a snapshot of the change")
            checks_with_nothing_to_do(2)
            after_writes = hourly()
            assert 1 <= len(after_writes) <= 3, log()
            checks_with_nothing_to_do(3)
            assert hourly() == after_writes, log()
    # Nothing changed since: no snapshot at shutdown.
    assert len(snapshots(folder)) == 1 + len(after_writes), log()


def test_the_health_checks_own_writes_are_no_reason_for_a_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/health writes a probe row to prove commits reach the disk, and the container's health check calls it
    every 30 s: were those writes counted, every tick would snapshot a database no user has touched. The app
    in this process on a real SQLite file, its schedule off; the test takes the ticks itself."""
    from fastapi.testclient import TestClient

    from app.core.config import Settings
    from app.main import create_app
    from app.migrate import upgrade

    monkeypatch.setenv("BACKUP_INTERVAL_SECONDS", "0")
    database = tmp_path / "app.db"
    upgrade(sqlite_url(database))
    settings = Settings(app_env="test", database_url=sqlite_url(database), jwt_secret_key="s" * 40)
    with TestClient(create_app(settings)) as http:
        state = http.app.state
        tick = lambda: http.portal.call(state.backups.tick)  # noqa: E731
        assert tick().tier == "daily"  # the first of the day, whatever changed
        for _ in range(3):
            state.storage.storage_failed()  # the next /health writes its probe at once
            assert http.get("/health").status_code == 200
            assert tick() is None
        assert state.storage.probe_writes >= 3
        assert signup(http, "new", PASSWORD).status_code == 201  # a user's change
        assert tick().tier == "hourly"
        assert tick() is None
    assert sorted(key.split("/")[0] for key in snapshots(tmp_path / "backups")) == ["daily", "hourly"]


def foreign_database(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    connection.commit()
    connection.close()


def corrupted_snapshot(path: Path, source: Path) -> None:
    data = bytearray(source.read_bytes())
    page = 4096
    data[page : 3 * page] = b"\xa5" * (2 * page)  # the b-tree pages after the schema page
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def sound(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    """A data folder the real server left after a user's 50 writes and an on-demand snapshot: (the folder, the
    user, the snapshot's key). Each test works on a copy of it."""
    folder = tmp_path_factory.mktemp("sound")
    with running_server(folder) as server, httpx.Client(base_url=server.base_url, timeout=30) as http:
        user, headers = new_user(http)
        write_locations(http, headers, 50)
        good = http.post("/admin/backups", headers=admin(http)).json()["key"]
    return folder, user, good


def copy_of(sound: tuple[Path, dict, str], tmp_path: Path) -> Path:
    """The sound data folder copied into tmp_path; returns its database."""
    shutil.copytree(sound[0], tmp_path, dirs_exist_ok=True)
    return tmp_path / "app.db"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("junk", "not an SQLite database"),
        ("foreign", "not a database of this app (no table"),
        ("corrupt", "PRAGMA quick_check"),
    ],
)
def test_a_corrupt_or_foreign_file_is_refused_with_one_line(
    sound: tuple[Path, dict, str], tmp_path: Path, kind: str, reason: str
) -> None:
    database = copy_of(sound, tmp_path)
    good = sound[2]
    bad = tmp_path / "backups" / "daily" / "20300101T000000.000000Z.sqlite3"
    if kind == "junk":
        bad.write_bytes(b"this is not a database at all" * 100)
    elif kind == "foreign":
        foreign_database(bad)
    else:
        corrupted_snapshot(bad, tmp_path / "backups" / good)
    before = digest(database)

    refused = local_invoke(database, "restore", "--local", "--yes")  # the newest is the bad one
    assert refused.returncode == 1
    line = refused.stderr.strip()
    assert line.count("\n") == 0 and line.startswith(
        f"error: refusing to restore {bad.parent.name}/{bad.name}"
    )
    assert reason in line and line.endswith("nothing was changed")
    assert not (tmp_path / "backups" / "restore-request.json").exists()
    assert digest(database) == before


@pytest.mark.slow
def test_the_server_refuses_an_unsound_snapshot_at_start_and_serves_the_live_database(
    sound: tuple[Path, dict, str], tmp_path: Path
) -> None:
    copy_of(sound, tmp_path)
    user = sound[1]
    foreign = tmp_path / "backups" / "daily" / "20300101T000000.000000Z.sqlite3"
    foreign.parent.mkdir(parents=True, exist_ok=True)
    foreign_database(foreign)
    # A request that skipped `invoke restore`'s own check (made by hand, or the file changed since).
    (tmp_path / "backups" / "restore-request.json").write_text(json.dumps({"key": "daily/" + foreign.name}))
    with running_server(tmp_path) as server, httpx.Client(base_url=server.base_url, timeout=30) as http:
        token = bearer(login(http, user["user_name"], PASSWORD).json()["access_token"])
        assert history(http, user, token) == list(range(50))
    refusals = [line for line in server.log.read_text().splitlines() if "refused" in line]
    assert len(refusals) == 1 and "not a database of this app" in refusals[0]
    assert "the live database is untouched" in refusals[0]
    assert not (tmp_path / "backups" / "restore-request.json").exists()
    assert not list(tmp_path.glob("app.db.before-restore-*"))


def s3_env(endpoint: str, bucket: str) -> dict[str, str]:
    return {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "BACKUP_BUCKET": bucket,
    }


@pytest.mark.slow
def test_s3_round_trip_on_the_emulator(tmp_path: Path) -> None:
    with moto_server() as endpoint:
        s3 = client(endpoint, "s3")
        s3.create_bucket(Bucket="snapshots")
        s3.put_bucket_versioning(Bucket="snapshots", VersioningConfiguration={"Status": "Enabled"})
        env = s3_env(endpoint, "snapshots")
        with (
            running_server(tmp_path, **env) as server,
            httpx.Client(base_url=server.base_url, timeout=30) as http,
        ):
            user, headers = new_user(http, "kept")
            write_locations(http, headers, 4)
            key = http.post("/admin/backups", headers=admin(http)).json()["key"]
            write_locations(http, headers, 2, start=50)
        assert key.startswith("backups/daily/")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="snapshots")["Contents"]]
        assert len(keys) == 2 and key in keys  # the on-demand one and the shutdown one
        assert not (tmp_path / "backups").exists()

        store = S3Store("snapshots", "backups/", s3)
        assert request_restore(store, "", key, yes=True, now=now()).key == key
        with (
            running_server(tmp_path, **env) as server,
            httpx.Client(base_url=server.base_url, timeout=30) as http,
        ):
            token = bearer(login(http, user["user_name"], PASSWORD).json()["access_token"])
            assert history(http, user, token) == [0, 1, 2, 3]
        assert store.read_request() is None


def test_the_bucket_is_encrypted_versioned_expiring_and_the_task_reaches_only_its_prefix() -> None:
    template = load("default")
    resources = template["Resources"]
    bucket = resources["BackupBucket"]
    assert bucket["DeletionPolicy"] == "Retain"  # `invoke clean` decides, not a stack deletion
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    rules = {r["Prefix"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["backups/hourly/"]["ExpirationInDays"] == 7
    assert rules["backups/daily/"]["ExpirationInDays"] == 30
    assert all(r["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1 for r in rules.values())
    assert rules["backups/"]["ExpiredObjectDeleteMarker"] is True

    task_statements = resources["TaskRoleBackupPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    arn = {"Fn::GetAtt": ["BackupBucket", "Arn"]}
    granted = {
        (tuple(s["Action"]), json.dumps(s["Resource"]), json.dumps(s.get("Condition")))
        for s in task_statements
    }
    assert granted == {
        (("s3:ListBucket",), json.dumps([arn]), json.dumps({"StringLike": {"s3:prefix": ["backups/*"]}})),
        (("s3:GetObject", "s3:PutObject"), json.dumps([{"Fn::Join": ["", [arn, "/backups/*"]]}]), "null"),
        (
            ("s3:DeleteObject",),
            json.dumps([{"Fn::Join": ["", [arn, "/backups/restore-request.json"]]}]),
            "null",
        ),
    }
    container = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["BACKUP_BUCKET"] == {"Ref": "BackupBucket"}
    assert environment["BACKUP_PREFIX"] == "backups/"
    policy = resources["BackupBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert policy[0]["Effect"] == "Deny" and policy[0]["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


@pytest.fixture(scope="module")
def endpoint():
    with local_aws.running() as url:
        yield url


@pytest.mark.slow
def test_backup_and_restore_against_the_deployed_stack(endpoint: str, tmp_path: Path) -> None:
    """`invoke restore` on the emulator after `invoke deploy --stand-in-images`: it lists the bucket, checks
    the snapshot, leaves the request and forces a new deployment; the task side is a local server process."""
    deployed, _ = invoke(
        endpoint, "deploy", "--stand-in-images", "--stack", "app", "--out", str(tmp_path / "t")
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    cfn, ecs, s3 = (client(endpoint, s) for s in ("cloudformation", "ecs", "s3"))
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName="ecs1-app")["Stacks"][0]["Outputs"]
    }
    bucket = outputs[
        "BackupBucket"
    ]  # moto's CloudFormation drops its settings: the template test checks them

    empty, _ = invoke(endpoint, "restore", "--yes")
    assert empty.returncode == 1 and empty.stderr.strip() == (
        "error: there is no snapshot yet: take one with `invoke backup`"
    )

    # The emulator speaks plain HTTP, which the TLS-only bucket policy refuses as S3 does; shown, then lifted
    with pytest.raises(s3.exceptions.ClientError, match="Forbidden"):
        s3.put_object(Bucket=bucket, Key="backups/probe", Body=b"x")
    s3.delete_bucket_policy(Bucket=bucket)

    data = tmp_path / "task"
    data.mkdir()
    # As the task definition starts the container: the bucket, and the bootstrap admin from the stack secret.
    secret = client(endpoint, "secretsmanager").get_secret_value(SecretId=outputs["AdminPasswordSecretArn"])
    env = {**s3_env(endpoint, bucket), "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": secret["SecretString"]}
    with running_server(data, **env) as server, httpx.Client(base_url=server.base_url, timeout=30) as http:
        user, headers = new_user(http, "kept")
        write_locations(http, headers, 3)
        # The emulated API URL leads nowhere: `--url` points `invoke backup` at the task directly instead.
        backup, _ = invoke(endpoint, "backup", "--url", server.base_url)
        assert backup.returncode == 0, backup.stderr
        key = last_line(backup).split()[1]
        assert key.startswith("backups/daily/") and last_line(backup).endswith(f"in s3://{bucket}/")
        write_locations(http, headers, 2, start=50)

    listed, _ = invoke(endpoint, "restore", "--list")
    assert key in listed.stdout and last_line(listed).startswith(f"2 snapshot(s) in s3://{bucket}/backups/")
    service = lambda: ecs.describe_services(cluster=outputs["ClusterName"], services=[outputs["ServiceName"]])  # noqa: E731
    deployment = service()["services"][0]["deployments"][0]["id"]
    restored, _ = invoke(endpoint, "restore", "--key", key, "--yes")
    assert restored.returncode == 0, restored.stderr
    assert "Lost: every write acknowledged after that moment." in restored.stdout
    assert last_line(restored).startswith(f"restore of {key} requested; ECS is replacing the task")
    assert service()["services"][0]["deployments"][0]["id"] != deployment  # forceNewDeployment
    assert (
        json.loads(s3.get_object(Bucket=bucket, Key="backups/restore-request.json")["Body"].read())["key"]
        == key
    )

    with running_server(data, **env) as server, httpx.Client(base_url=server.base_url, timeout=30) as http:
        token = bearer(login(http, user["user_name"], PASSWORD).json()["access_token"])
        assert history(http, user, token) == [0, 1, 2]

    cleaned, _ = invoke(endpoint, "clean", "--yes", "--keep-backups")
    assert cleaned.returncode == 0, cleaned.stderr
    assert f"the snapshots in bucket {bucket}" in last_line(cleaned)
    kept = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="backups/")["Contents"]]
    # The on-demand snapshot and one per shutdown: both runs wrote (the second one's login is a write: the
    # login throttle records every attempt).
    assert key in kept and len(kept) == 3


def test_restore_picks_the_newest_at_or_before_a_time_or_an_age() -> None:
    from datetime import UTC, datetime

    from app.snapshots import parse_key
    from lifecycle.backups import choose
    from lifecycle.errors import LifecycleError

    taken = ["daily/20261127T000010.000000Z.sqlite3", "hourly/20261127T050000.000000Z.sqlite3"]
    found = [parse_key(key) for key in taken]
    at = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    assert choose(found, now=at).key == taken[1]
    assert choose(found, at="2026-11-27T04:59", now=at).key == taken[0]
    assert choose(found, at="2026-11-27 05:00Z", now=at).key == taken[1]
    assert choose(found, at="2h", now=at).key == taken[0]
    with pytest.raises(LifecycleError, match="no snapshot at or before 2026-11-26 06:00:00 UTC"):
        choose(found, at="1d", now=at)
    with pytest.raises(LifecycleError, match="give a UTC time like"):
        choose(found, at="yesterday", now=at)
