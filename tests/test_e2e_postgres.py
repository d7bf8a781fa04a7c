"""The PostgreSQL mode's lifecycle against the local AWS emulator: deploy -> inspect -> redeploy -> clean.

Real parts as in test_e2e_lifecycle.py: the rendered templates, `invoke deploy --database postgres` and
`invoke clean` as a user runs them, moto's server with the project's emulations. What cannot exist here:
an AWS account, a Docker engine (the images are registered manifests) and a real RDS instance (the emulator
records it; the app on PostgreSQL itself is tested against a real server in tests/test_postgres_*.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import local_aws
from tests.lifecycle_support import TAG, client, invoke, last_line, live_stacks, register_images

pytestmark = pytest.mark.slow  # see conftest.py


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with local_aws.running() as url:
        yield url


def test_the_postgres_mode_deploys_and_cleans(endpoint, tmp_path):
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
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    (container,) = task["containerDefinitions"]
    environment = {item["name"]: item["value"] for item in container["environment"]}
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

    again, _ = invoke(endpoint, "deploy", *options)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "up to date: ecs1-app" in last_line(again)

    cleaned, _ = invoke(endpoint, "clean", "--yes")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert live_stacks(endpoint) == {}
    assert rds.describe_db_instances()["DBInstances"] == []
    snapshots = rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert [s["DBInstanceIdentifier"] for s in snapshots] == ["ecs1-db"], (
        "DeletionPolicy Snapshot kept the data"
    )
    assert scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    assert client(endpoint, "secretsmanager").list_secrets()["SecretList"] == []
