"""The PostgreSQL mode's lifecycle against the local AWS emulator: deploy -> inspect -> status -> backup ->
restore -> redeploy -> clean, in one flow (each step needs the one before; one flow deploys once).

Real parts as in test_e2e_lifecycle.py: the rendered templates, `invoke deploy --database postgres`,
`invoke status`, `invoke backup`, `invoke restore` and `invoke clean` as a user runs them, moto's server with
the project's emulations. What cannot exist here: an AWS account, a Docker engine (the images are registered
manifests) and a real RDS instance (the emulator records instances and snapshots, with no data in them; the
app on PostgreSQL itself is tested against a real server in tests/test_postgres_*.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import local_aws
from lifecycle import database_snapshots
from lifecycle.errors import LifecycleError
from lifecycle.status import gather
from tests.lifecycle_support import (
    TAG,
    aws_for,
    client,
    fake_credentials,
    invoke,
    last_line,
    live_stacks,
    register_images,
)
from troposphere_templates.config import ProjectConfig

pytestmark = pytest.mark.slow  # see conftest.py


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with local_aws.running() as url:
        yield url


def _task_definition(endpoint: str) -> dict[str, Any]:
    ecs = client(endpoint, "ecs")
    service = ecs.describe_services(cluster="ecs1-cluster", services=["ecs1-api"])["services"][0]
    return ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]


def _environment(task: dict[str, Any]) -> dict[str, str]:
    (container,) = task["containerDefinitions"]
    return {item["name"]: item["value"] for item in container["environment"]}


def _stack_parameters(endpoint: str) -> dict[str, str]:
    (stack,) = client(endpoint, "cloudformation").describe_stacks(StackName="ecs1-app")["Stacks"]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def stack_outputs_of(endpoint: str) -> dict[str, str]:
    (stack,) = client(endpoint, "cloudformation").describe_stacks(StackName="ecs1-app")["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def _instances(rds: Any) -> list[str]:
    return [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]]


def test_the_postgres_mode_deploys_backs_up_restores_and_cleans(endpoint, tmp_path, monkeypatch):
    fake_credentials(monkeypatch)
    register_images(endpoint)
    options = ["--stack", "app", "--database", "postgres", "--image-tag", TAG, "--out", str(tmp_path)]

    first, _ = invoke(endpoint, "deploy", *options)
    assert first.returncode == 0, first.stdout + first.stderr
    assert live_stacks(endpoint) == {"ecs1-app": "CREATE_COMPLETE"}

    rds = client(endpoint, "rds")
    (instance,) = rds.describe_db_instances(DBInstanceIdentifier="ecs1-db")["DBInstances"]
    assert instance["Engine"] == "postgres" and instance["DBInstanceClass"] == "db.t4g.micro"
    assert instance["StorageEncrypted"] is True and instance["PubliclyAccessible"] is False
    zones = {subnet["SubnetAvailabilityZone"]["Name"] for subnet in instance["DBSubnetGroup"]["Subnets"]}
    assert len(zones) == 2
    secret_arn = instance["MasterUserSecret"]["SecretArn"]
    secret = client(endpoint, "secretsmanager").describe_secret(SecretId=secret_arn)
    assert secret["ARN"] == secret_arn

    ecs = client(endpoint, "ecs")
    service = ecs.describe_services(cluster="ecs1-cluster", services=["ecs1-api"])["services"][0]
    assert service["desiredCount"] == 2
    assert service["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    assert service["deploymentConfiguration"]["maximumPercent"] == 200
    task = _task_definition(endpoint)
    (container,) = task["containerDefinitions"]
    environment = _environment(task)
    assert environment["DATABASE_HOST"] == instance["Endpoint"]["Address"]
    secrets = {item["name"]: item["valueFrom"] for item in container["secrets"]}
    assert secrets["DATABASE_PASSWORD"] == f"{secret_arn}:password::"
    assert environment["DATABASE_SECRET_ARN"] == secret_arn
    assert not task.get("volumes")

    scaling = client(endpoint, "application-autoscaling")
    (target,) = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert target["ResourceId"] == "service/ecs1-cluster/ecs1-api"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 4)
    (policy,) = scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert not client(endpoint, "efs").describe_file_systems()["FileSystems"]

    # status shows the instance; asked for the other mode, it says the stack runs this one.
    status, _ = invoke(endpoint, "status", "--database", "postgres")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "database RDS PostgreSQL instance ecs1-db" in status.stdout
    assert "state       available" in status.stdout and last_line(status) == "healthy"
    aws = aws_for(endpoint)
    assert gather(ProjectConfig(), aws, database="sqlite").problems == [
        "ecs1-app runs postgres, not sqlite (--database)"
    ]

    # backup: a manual RDS snapshot, listed with the automated ones.
    backup, _ = invoke(endpoint, "backup")
    assert backup.returncode == 0, backup.stdout + backup.stderr
    (manual,) = rds.describe_db_snapshots(DBInstanceIdentifier="ecs1-db", SnapshotType="manual")[
        "DBSnapshots"
    ]
    key = manual["DBSnapshotIdentifier"]
    assert last_line(backup).startswith(f"snapshot {key} of ecs1-db (20 GiB) is available")
    listed, _ = invoke(endpoint, "restore", "--list")
    assert key in listed.stdout and "automated" in listed.stdout, listed.stdout

    # restore says what is lost and, with no terminal to ask on and no --yes, changes nothing.
    unconfirmed, _ = invoke(endpoint, "restore", "--key", key)
    assert unconfirmed.returncode == 1
    assert "nothing restored: no terminal to ask on; pass --yes" in unconfirmed.stderr
    assert "Lost from the live database: every write after that moment." in unconfirmed.stdout
    assert _instances(rds) == ["ecs1-db"]

    # restore: a new instance from the snapshot; the tasks move to it; the old one leaves a final snapshot.
    restored, _ = invoke(endpoint, "restore", "--key", key, "--yes")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    (instance,) = rds.describe_db_instances()["DBInstances"]
    new_id = instance["DBInstanceIdentifier"]
    assert new_id.startswith("ecs1-db-r") and last_line(restored).startswith(f"restored {key} into {new_id}")
    assert _stack_parameters(endpoint)["DatabaseSnapshot"] == key
    environment = _environment(_task_definition(endpoint))
    assert environment["DATABASE_HOST"] == instance["Endpoint"]["Address"]
    assert environment["DATABASE_SECRET_ARN"] == instance["MasterUserSecret"]["SecretArn"]
    final = rds.describe_db_snapshots(DBInstanceIdentifier="ecs1-db", SnapshotType="manual")["DBSnapshots"]
    assert len(final) == 2, "the replaced instance left a final snapshot beside the backup"

    # A deploy after the restore keeps the restored instance (rendering knows nothing of it).
    again, _ = invoke(endpoint, "deploy", *options)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "up to date: ecs1-app" in last_line(again)
    assert _instances(rds) == [new_id]

    # An automated snapshot is copied to a manual one first: the stack must go on naming a snapshot that
    # outlives its instance (CloudFormation deletes an instance's automated snapshots with it).
    (automated,) = rds.describe_db_snapshots(DBInstanceIdentifier=new_id, SnapshotType="automated")[
        "DBSnapshots"
    ]
    copy = automated["DBSnapshotIdentifier"].removeprefix("rds:") + "-copy"
    for snapshot in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]:
        rds.delete_db_snapshot(DBSnapshotIdentifier=snapshot["DBSnapshotIdentifier"])
    from_automated, _ = invoke(endpoint, "restore", "--at", "0m", "--yes")
    assert from_automated.returncode == 0, from_automated.stdout + from_automated.stderr
    assert _stack_parameters(endpoint)["DatabaseSnapshot"] == copy
    assert rds.describe_db_snapshots(DBSnapshotIdentifier=copy)["DBSnapshots"][0]["SnapshotType"] == "manual"

    # A restore that fails (the snapshot deleted by someone between the choice and the update) says so; the
    # stack rolls back and the instance it had keeps serving.
    before = _stack_parameters(endpoint)
    monkeypatch.setattr(database_snapshots, "_keep_manual", lambda *args: "deleted-meanwhile")
    with pytest.raises(
        LifecycleError, match=r"^restore of deleted-meanwhile failed; CloudFormation rolls"
    ) as failed:
        database_snapshots.restore(
            ProjectConfig(), aws, stack_outputs_of(endpoint), yes=True, poll_seconds=0.05
        )
    assert f"rolls the stack back to {before['DatabaseInstance']}, which keeps serving" in str(failed.value)
    assert _stack_parameters(endpoint) == before and _instances(rds) == [before["DatabaseInstance"]]

    # An instance that does not serve makes the status unhealthy.
    latest = _stack_parameters(endpoint)["DatabaseInstance"]
    rds.stop_db_instance(DBInstanceIdentifier=latest)
    assert f"RDS instance {latest} is stopped" in gather(ProjectConfig(), aws).problems
    rds.start_db_instance(DBInstanceIdentifier=latest)

    cleaned, _ = invoke(endpoint, "clean", "--yes")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert "and the RDS snapshots of ecs1-db (the final one and any taken by `invoke backup`" in last_line(
        cleaned
    )
    assert live_stacks(endpoint) == {}
    assert rds.describe_db_instances()["DBInstances"] == []
    snapshots = rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert {s["DBInstanceIdentifier"] for s in snapshots} == {new_id, latest}, (
        "DeletionPolicy Snapshot kept the data: the final snapshots of the instances the restore replaced "
        "and of the last one, which clean deleted"
    )
    assert scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    assert client(endpoint, "secretsmanager").list_secrets()["SecretList"] == []
