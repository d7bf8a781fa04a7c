"""Security facts of the rendered templates, checked directly on the JSON a deploy would send."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.permissions_support import required_resource_types
from tests.templates_support import (
    CONFIGS,
    DEFAULT_IN_EVERY_REGION,
    TEMPLATE_NAMES,
    as_list,
    load,
    policy_statements,
    rendered_dir,
    resources_of_type,
)

ALL = [(config, name) for config in sorted(CONFIGS) for name in TEMPLATE_NAMES]


@pytest.mark.parametrize("config", DEFAULT_IN_EVERY_REGION)
def test_secrets_are_generated_by_cloudformation_never_written_in_the_template(config: str) -> None:
    app = load(config)
    secrets = resources_of_type(app, "AWS::SecretsManager::Secret")
    assert len(secrets) == 2
    for secret in secrets.values():
        properties = secret["Properties"]
        assert "SecretString" not in properties
        # No JSON template: the SecretString is the plain generated value the app and authorizer read.
        assert set(properties["GenerateSecretString"]) <= {"PasswordLength", "ExcludePunctuation"}
        assert properties["GenerateSecretString"]["PasswordLength"] >= 32


def walk(node: object, key: str = "") -> Iterator[tuple[str, object]]:
    """Every (key, value) pair in a JSON document, depth first."""
    if isinstance(node, dict):
        for child_key, child in node.items():
            yield child_key, child
            yield from walk(child, child_key)
    elif isinstance(node, list):
        for child in node:
            yield from walk(child, key)


def environment_variables(template: dict) -> list[tuple[str, object]]:
    """Variables of containers (Name/Value lists), Lambda functions and CodeBuild projects (Name/Value)."""
    variables = []
    for key, value in walk(template):
        if key in ("Environment", "EnvironmentVariables") and isinstance(value, list):
            variables += [(item["Name"], item["Value"]) for item in value if "Name" in item]
        if key == "Variables" and isinstance(value, dict):
            variables += list(value.items())
    return variables


@pytest.mark.parametrize(("config", "name"), ALL)
def test_no_plaintext_secret_value_anywhere(config: str, name: str) -> None:
    text = (rendered_dir(config) / name).read_text()
    template = json.loads(text)
    assert "SecretString" not in {key for key, _ in walk(template)}
    assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text)
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    for variable, value in environment_variables(template):
        if re.search(r"PASSWORD|SECRET|TOKEN|_KEY$", variable):
            # A reference (an ARN from Ref/GetAtt) is fine; a literal value would be the secret itself.
            assert not isinstance(value, str), f"{variable} has a literal value"
    for parameter_name in template.get("Parameters", {}):
        assert not re.search(r"(?i)password|secret|token", parameter_name), "secrets are never parameters"


@pytest.mark.parametrize("config", DEFAULT_IN_EVERY_REGION)
def test_container_gets_its_secrets_from_secrets_manager_not_the_environment(config: str) -> None:
    app = load(config)
    (task,) = resources_of_type(app, "AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    environment = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert not {"JWT_SECRET_KEY", "ADMIN_PASSWORD"} & set(environment)
    assert environment["APP_ENV"] == "prod"
    secret_ids = set(resources_of_type(app, "AWS::SecretsManager::Secret"))
    injected = {item["Name"]: item["ValueFrom"] for item in container["Secrets"]}
    assert set(injected) == {"JWT_SECRET_KEY", "ADMIN_PASSWORD"}
    assert {ref["Ref"] for ref in injected.values()} == secret_ids


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_task_is_reachable_only_from_the_vpc_link(config: str) -> None:
    app = load(config)
    (service,) = resources_of_type(app, "AWS::ECS::Service").values()
    (vpc_link,) = resources_of_type(app, "AWS::ApiGatewayV2::VpcLink").values()
    (task_sg,) = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    (link_sg,) = vpc_link["Properties"]["SecurityGroupIds"]
    groups = resources_of_type(app, "AWS::EC2::SecurityGroup")
    inline = groups[task_sg["Ref"]]["Properties"].get("SecurityGroupIngress", [])
    separate = [
        rule["Properties"]
        for rule in resources_of_type(app, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == task_sg
    ]
    ingress = inline + separate
    assert ingress, "the VPC link must be able to reach the task"
    for rule in ingress:
        assert rule == {**rule, "SourceSecurityGroupId": link_sg, "FromPort": 8000, "ToPort": 8000}


@pytest.mark.parametrize(("config", "name"), ALL)
def test_nothing_is_open_to_the_world_inbound(config: str, name: str) -> None:
    template = load(config, name)
    rules = [
        rule["Properties"] for rule in resources_of_type(template, "AWS::EC2::SecurityGroupIngress").values()
    ]
    for group in resources_of_type(template, "AWS::EC2::SecurityGroup").values():
        rules += group["Properties"].get("SecurityGroupIngress", [])
    for rule in rules:
        assert rule.get("CidrIp") != "0.0.0.0/0" and rule.get("CidrIpv6") != "::/0", rule
        assert "SourceSecurityGroupId" in rule, f"ingress must name its source group: {rule}"


@pytest.mark.parametrize("config", DEFAULT_IN_EVERY_REGION)
def test_authorizer_runs_outside_the_vpc_with_access_to_one_secret_only(config: str) -> None:
    app = load(config)
    (function,) = resources_of_type(app, "AWS::Lambda::Function").values()
    properties = function["Properties"]
    assert "VpcConfig" not in properties
    assert properties["PackageType"] == "Image"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Code"]["ImageUri"]["Fn::Sub"].endswith("/ecs1:authorizer-${AuthorizerImageTag}")
    role_id = properties["Role"]["Fn::GetAtt"][0]
    statements = [statement for owner, statement in policy_statements(app) if owner == role_id]
    actions = sorted(action for statement in statements for action in as_list(statement["Action"]))
    assert actions == ["logs:CreateLogStream", "logs:PutLogEvents", "secretsmanager:GetSecretValue"]
    (read_secret,) = [s for s in statements if s["Action"] == ["secretsmanager:GetSecretValue"]]
    assert read_secret["Resource"] == [{"Ref": "JwtSecret"}]
    assert properties["Environment"]["Variables"] == {"JWT_SECRET_ARN": {"Ref": "JwtSecret"}}


@pytest.mark.parametrize(("config", "name"), ALL)
def test_iam_is_least_privilege(config: str, name: str) -> None:
    statements = policy_statements(load(config, name))
    assert statements
    for owner, statement in statements:
        actions = as_list(statement.get("Action", []))
        resources = as_list(statement.get("Resource", []))
        assert "NotAction" not in statement and "NotResource" not in statement, owner
        assert "*" not in actions, f"{owner}: '*' action"
        assert not [a for a in actions if a in ("iam:*", "ec2:*") or a.endswith(":*")], f"{owner}: {actions}"
        if "iam:PassRole" in actions:
            assert "*" not in resources, f"{owner}: PassRole on every role"
            assert "iam:PassedToService" in json.dumps(statement.get("Condition", {})), owner
        if resources == ["*"]:
            # Only actions for which the Service Authorization Reference lists no resource they must name.
            scoped = [action for action in actions if required_resource_types(action)]
            assert scoped == [], f"{owner}: {scoped} can name a resource, not *"


@pytest.mark.parametrize("config", DEFAULT_IN_EVERY_REGION)
def test_pass_role_names_exactly_the_roles_that_are_passed(config: str) -> None:
    """Of the pipelines' own roles, only the create build passes one: CloudFormation's, to CloudFormation.
    The image pipelines' change sets name no role, so CloudFormation uses the one the stack has."""
    passes = {
        kind: [
            (owner, s)
            for owner, s in policy_statements(load(config, f"{kind}-pipeline.json"))
            if owner in ("BuildRole", "PipelineRole") and "iam:PassRole" in as_list(s["Action"])
        ]
        for kind in ("create", "update", "update-lambda")
    }
    assert passes["update"] == passes["update-lambda"] == []
    ((owner, pass_role),) = passes["create"]
    assert owner == "BuildRole"
    assert pass_role["Resource"] == [{"Fn::GetAtt": ["CloudFormationRole", "Arn"]}]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}


@pytest.mark.parametrize("config", DEFAULT_IN_EVERY_REGION)
def test_file_system_is_encrypted_and_mounted_through_the_access_point_over_tls(config: str) -> None:
    app = load(config)
    (file_system,) = resources_of_type(app, "AWS::EFS::FileSystem").values()
    assert file_system["Properties"]["Encrypted"] is True
    # No AWS Backup policy: its recovery points would outlive `invoke clean` and cost outside `invoke cost`.
    assert "BackupPolicy" not in file_system["Properties"]
    (access_point,) = resources_of_type(app, "AWS::EFS::AccessPoint").values()
    assert access_point["Properties"]["PosixUser"] == {"Uid": "1000", "Gid": "1000"}
    (task,) = resources_of_type(app, "AWS::ECS::TaskDefinition").values()
    (volume,) = task["Properties"]["Volumes"]
    efs = volume["EFSVolumeConfiguration"]
    assert efs["TransitEncryption"] == "ENABLED"
    assert efs["AuthorizationConfig"] == {"AccessPointId": {"Ref": "AccessPoint"}, "IAM": "ENABLED"}
    policy = file_system["Properties"]["FileSystemPolicy"]["Statement"]
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in policy)
