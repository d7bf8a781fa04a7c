"""The PostgreSQL mode's template (`invoke render --database postgres`) as a user would check it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.templates_support import PROJECT_ROOT, load, policy_statements, resources_of_type
from troposphere_templates.cost import estimate, load_prices, total


def test_the_database_is_rds_postgres_private_encrypted_with_a_managed_password() -> None:
    app = load("postgres")
    (database,) = resources_of_type(app, "AWS::RDS::DBInstance").values()
    props = database["Properties"]
    assert props["Engine"] == "postgres" and props["DBInstanceClass"] == "db.t4g.micro"
    assert props["StorageEncrypted"] is True and props["PubliclyAccessible"] is False
    assert props["ManageMasterUserPassword"] is True and "MasterUserPassword" not in props
    assert props["StorageType"] == "gp3" and int(props["AllocatedStorage"]) >= 20
    assert props["BackupRetentionPeriod"] >= 1, "RDS automated backups are the backups of this mode"
    assert database["DeletionPolicy"] == "Snapshot", "deleting the stack keeps a final snapshot"

    (group,) = resources_of_type(app, "AWS::RDS::DBSubnetGroup").values()
    subnets = [app["Resources"][ref["Ref"]]["Properties"] for ref in group["Properties"]["SubnetIds"]]
    zones = {str(subnet["AvailabilityZone"]) for subnet in subnets}
    assert len(subnets) == 2 and len(zones) == 2, "RDS requires subnets in two zones"
    associations = resources_of_type(app, "AWS::EC2::SubnetRouteTableAssociation").values()
    routed = {assoc["Properties"]["SubnetId"]["Ref"] for assoc in associations}
    assert not routed & {ref["Ref"] for ref in group["Properties"]["SubnetIds"]}, "no route out of them"


def test_only_the_tasks_reach_the_database() -> None:
    app = load("postgres")
    (database,) = resources_of_type(app, "AWS::RDS::DBInstance").values()
    (db_sg,) = database["Properties"]["VPCSecurityGroups"]
    (service,) = resources_of_type(app, "AWS::ECS::Service").values()
    (task_sg,) = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    ingress = app["Resources"][db_sg["Ref"]]["Properties"]["SecurityGroupIngress"]
    ingress += [
        rule["Properties"]
        for rule in resources_of_type(app, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == db_sg
    ]
    assert [(rule["SourceSecurityGroupId"], rule["FromPort"], rule["ToPort"]) for rule in ingress] == [
        (task_sg, 5432, 5432)
    ]


def test_no_efs_and_the_task_gets_the_database_from_parts_and_the_rds_secret() -> None:
    app = load("postgres")
    assert not [r for r in app["Resources"].values() if r["Type"].startswith("AWS::EFS::")]
    (task,) = resources_of_type(app, "AWS::ECS::TaskDefinition").values()
    assert task["Properties"].get("Volumes", []) == []
    (container,) = task["Properties"]["ContainerDefinitions"]
    environment = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert "DATABASE_URL" not in environment and "DATABASE_PASSWORD" not in environment
    assert environment["DATABASE_HOST"] == {"Fn::GetAtt": ["Database", "Endpoint.Address"]}
    secrets = {item["Name"]: item["ValueFrom"] for item in container["Secrets"]}
    master = {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}
    assert secrets["DATABASE_USER"] == {"Fn::Join": ["", [master, ":username::"]]}
    assert secrets["DATABASE_PASSWORD"] == {"Fn::Join": ["", [master, ":password::"]]}
    readable = [
        statement["Resource"]
        for logical_id, statement in policy_statements(app)
        if logical_id == "TaskExecutionRole" and "secretsmanager:GetSecretValue" in statement["Action"]
    ]
    assert any(master in resources for resources in readable), "ECS can read the RDS secret to inject it"
    assert environment["DATABASE_SECRET_ARN"] == master, "the app reads it again after a rotation"
    task_role_reads = [
        statement["Resource"]
        for logical_id, statement in policy_statements(app)
        if logical_id == "TaskRole" and "secretsmanager:GetSecretValue" in statement["Action"]
    ]
    assert task_role_reads == [[master]], "the task itself may read that one secret, nothing else"


def test_several_tasks_rolling_at_full_capacity_with_cpu_autoscaling() -> None:
    app = load("postgres")
    (service,) = resources_of_type(app, "AWS::ECS::Service").values()
    props = service["Properties"]
    assert props["DesiredCount"] == 2
    deployment = props["DeploymentConfiguration"]
    assert (deployment["MinimumHealthyPercent"], deployment["MaximumPercent"]) == (100, 200)
    (target,) = resources_of_type(app, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (2, 4)
    assert target["Properties"]["ScalableDimension"] == "ecs:service:DesiredCount"
    (policy,) = resources_of_type(app, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert policy["Properties"]["PolicyType"] == "TargetTrackingScaling"
    assert (
        tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    )


def test_the_default_mode_is_unchanged_sqlite_on_one_task() -> None:
    app = load("default")
    assert not resources_of_type(app, "AWS::RDS::DBInstance")
    assert not resources_of_type(app, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert resources_of_type(app, "AWS::EFS::FileSystem")
    (service,) = resources_of_type(app, "AWS::ECS::Service").values()
    assert service["Properties"]["DesiredCount"] == 1


@pytest.mark.slow
def test_invoke_cost_prices_the_postgres_mode_item_by_item(tmp_path: Path) -> None:
    render = [sys.executable, "-m", "invoke", "render", "--database", "postgres", "--out", str(tmp_path)]
    assert subprocess.run(render, cwd=PROJECT_ROOT, capture_output=True).returncode == 0
    command = [sys.executable, "-m", "invoke", "cost", "--template", str(tmp_path / "app.json")]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    prices = load_prices()
    instance = next(line for line in lines if "RDS PostgreSQL db.t4g.micro" in line)
    assert instance.endswith(f"${730 * prices['rds_postgres_single_az_per_hour']['db.t4g.micro']:.2f}")
    storage = next(line for line in lines if "RDS gp3 storage: 20 GB" in line)
    assert storage.endswith(f"${20 * prices['rds_gp3_per_gb_month']:.2f}")
    assert any("2 tasks" in line for line in lines if line.lstrip().startswith("Fargate"))
    assert any("3 secrets" in line for line in lines), "the RDS-managed secret is counted"
    items = estimate(json.loads((tmp_path / "app.json").read_text()), prices)
    assert lines[-1].split()[1] == f"${total(items):,.2f}"
    assert not [line for line in lines if line.lstrip().startswith("EFS")]


def test_restore_names_are_ones_the_template_and_rds_accept() -> None:
    """`invoke restore` sets DatabaseInstance and DatabaseSnapshot: CloudFormation refuses a value that does
    not match the parameter's AllowedPattern (the whole value) or exceeds MaxLength, before any change."""
    import re
    from datetime import UTC, datetime

    from lifecycle.database_snapshots import COPY_SUFFIX, ours, restored_identifier
    from troposphere_templates.config import ProjectConfig

    parameters = load("postgres")["Parameters"]
    config = ProjectConfig(database="postgres")
    now = datetime(2026, 11, 28, 7, 5, 9, tzinfo=UTC)
    instance = restored_identifier(config, now)
    snapshot = f"{instance}-{now:%Y%m%d-%H%M%S}"  # what `invoke backup` names a snapshot of it
    copy = f"rds:{config.db_instance_identifier}-2026-11-28-03-10".removeprefix("rds:") + COPY_SUFFIX
    for name, value in (
        ("DatabaseInstance", instance),
        ("DatabaseSnapshot", snapshot),
        ("DatabaseSnapshot", copy),
    ):
        spec = parameters[name]
        assert re.fullmatch(spec["AllowedPattern"], value) and len(value) <= spec["MaxLength"], (name, value)
    assert parameters["DatabaseSnapshot"]["Default"] == "", "a new stack creates an empty database"
    assert re.fullmatch(parameters["DatabaseInstance"]["AllowedPattern"], "ecs1--db") is None
    assert ours(config, instance) and ours(config, config.db_instance_identifier)
    assert not ours(config, "ecs1-db-db"), "project ecs1-db's instance is not ecs1's"


def test_a_restored_database_names_only_what_rds_takes_from_the_snapshot() -> None:
    """Restoring, the instance must not name DBName or MasterUsername (RDS takes them from the snapshot); a
    new instance names them. The condition is the DatabaseSnapshot parameter being set."""
    app = load("postgres")
    props = app["Resources"]["Database"]["Properties"]
    condition = {"Fn::Not": [{"Fn::Equals": [{"Ref": "DatabaseSnapshot"}, ""]}]}
    (restored,) = [name for name, value in app["Conditions"].items() if value == condition]
    assert props["DBSnapshotIdentifier"] == {
        "Fn::If": [restored, {"Ref": "DatabaseSnapshot"}, {"Ref": "AWS::NoValue"}]
    }
    for name in ("DBName", "MasterUsername"):
        assert props[name]["Fn::If"][:2] == [restored, {"Ref": "AWS::NoValue"}], name
    assert props["DBInstanceIdentifier"] == {"Ref": "DatabaseInstance"}, (
        "a restore needs a new name to replace"
    )
    assert app["Resources"]["Database"]["UpdateReplacePolicy"] == "Snapshot", "a restore keeps the old data"
