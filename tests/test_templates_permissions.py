"""The application stack's CloudFormation role, proven complete and scoped from AWS's own specifications.

Required: every create/update/delete handler permission in AWS's resource provider schema of every resource
type `app.json` uses, in every configuration (each region, Spot, the original sizing, the PostgreSQL mode),
plus the caller permissions the API references add (tests/permissions_support.py says where each comes from).
Each must be granted by the create pipeline's CloudFormation role or excluded in
`troposphere_templates/permission_exclusions.json` with the reason this template cannot need it; the role
grants nothing else, and each statement names resources as narrowly as the Service Authorization Reference
lets that action name them.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.permissions_support import (
    caller_permissions,
    exclusions,
    handler_permissions,
    iam_action,
    key,
    nameable_resource_types,
    provider_schema,
    required_permissions,
    required_resource_types,
)
from tests.templates_support import (
    CONFIGS,
    TEMPLATE_NAMES,
    as_list,
    load,
    policy_statements,
)

ROLE = "CloudFormationRole"
NOT_AN_IAM_ACTION = "not an IAM action"


def role_statements(config: str) -> list[dict]:
    return [s for owner, s in policy_statements(load(config, "create-pipeline.json")) if owner == ROLE]


def granted(config: str) -> dict[str, list[dict]]:
    """Action (lower case) -> the role's statements that allow it."""
    actions: dict[str, list[dict]] = {}
    for statement in role_statements(config):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            actions.setdefault(key(action), []).append(statement)
    return actions


def excluded() -> dict[str, str]:
    return {key(action): reason for action, reason in exclusions().items()}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_every_required_permission_is_granted_or_excluded_with_a_reason(config: str) -> None:
    required = required_permissions(load(config))
    missing = sorted(
        f"{action} (for {', '.join(sorted(types))})"
        for action, types in required.items()
        if action not in granted(config) and action not in excluded()
    )
    assert missing == [], "neither granted nor excluded:\n" + "\n".join(missing)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_the_role_grants_nothing_the_specifications_do_not_require(config: str) -> None:
    required = required_permissions(load(config))
    unrequired = sorted(set(granted(config)) - set(required))
    assert unrequired == [], f"granted but required by no schema or API reference: {unrequired}"
    both = sorted(set(granted(config)) & set(excluded()))
    assert both == [], f"excluded and granted at once: {both}"


def test_every_exclusion_is_needed_and_names_a_checkable_reason() -> None:
    required = {action for config in CONFIGS for action in required_permissions(load(config))}
    for action, reason in exclusions().items():
        assert key(action) in required, f"{action}: no schema or API reference requires it (stale)"
        assert len(reason) >= 30 and "\n" not in reason, f"{action}: a one-line reason a reviewer can check"
        # "not an IAM action" is a fact the Service Authorization Reference confirms; any other exclusion is
        # of a real action that the template's properties never make a handler call.
        assert (iam_action(action) is None) == reason.startswith(NOT_AN_IAM_ACTION), action


def test_every_resource_type_has_aws_handler_permissions_or_documented_caller_permissions() -> None:
    extra = caller_permissions()
    types = {r["Type"] for config in CONFIGS for r in load(config)["Resources"].values()}
    for resource_type in sorted(types):
        assert provider_schema(resource_type)["typeName"] == resource_type
        assert handler_permissions(resource_type) or resource_type in extra, (
            f"{resource_type}: its schema declares no handlers; say what it needs in caller_permissions.json"
        )
    for resource_type, entry in extra.items():
        assert entry["source"].strip(), f"{resource_type}: name the AWS document the actions come from"
        for action in entry["actions"]:
            assert iam_action(action) is not None, f"{action} is not an IAM action"


UNSET_PROPERTY = re.compile(r"`(AWS::\w+::\w+)\.([\w.]+)`")


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_the_properties_an_exclusion_relies_on_are_really_not_set(config: str) -> None:
    """An exclusion for an unused feature names the properties (`AWS::Type.Property`) whose absence it relies
    on; setting one of them later fails here until the permission is granted."""
    resources = load(config)["Resources"].values()
    for action, reason in exclusions().items():
        if reason.startswith(("property not set", "no customer managed key")):
            named = UNSET_PROPERTY.findall(reason)
            assert named, f"{action}: name the properties it relies on as `AWS::Type.Property`"
            for resource_type, path in named:
                top = path.split(".")[0]
                assert top in provider_schema(resource_type)["properties"], (
                    f"{action}: no {resource_type}.{top}"
                )
                for resource in resources:
                    if resource["Type"] == resource_type:
                        node = resource.get("Properties", {})
                        for part in path.split("."):
                            node = node.get(part, {}) if isinstance(node, dict) else {}
                        assert node == {}, f"{action} is excluded, but {resource_type}.{path} is set"


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_each_statement_names_resources_as_narrowly_as_aws_allows(config: str) -> None:
    for statement in role_statements(config):
        actions, resources = as_list(statement["Action"]), as_list(statement["Resource"])
        if resources == ["*"]:
            # Only actions for which AWS lists no resource type they must name.
            scoped = [a for a in actions if required_resource_types(a)]
            assert scoped == [], f"{statement.get('Sid')}: these can name a resource: {scoped}"
        else:
            assert "*" not in resources
            unscopable = [a for a in actions if not nameable_resource_types(a)]
            assert unscopable == [], f"{statement.get('Sid')}: these accept only '*': {unscopable}"
            text = json.dumps(resources)
            for action in actions:
                assert f":{action.split(':')[0]}:" in text, f"{statement.get('Sid')}: {action} on {text}"


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_nothing_is_region_locked_by_a_condition(config: str, name: str) -> None:
    assert "aws:RequestedRegion" not in json.dumps(load(config, name))


def test_pass_role_and_service_linked_roles_are_pinned_to_their_services() -> None:
    statements = {s["Sid"]: s for s in role_statements("default")}
    assert statements["PassProjectRoles"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/ecs1/*"}
    ]
    assert statements["PassProjectRoles"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": ["ecs-tasks.amazonaws.com", "lambda.amazonaws.com"]}
    }
    names = statements["ServiceLinkedRoles"]["Condition"]["StringEquals"]["iam:AWSServiceName"]
    assert names == ["ecs.amazonaws.com", "elasticfilesystem.amazonaws.com", "ops.apigateway.amazonaws.com"]


def test_the_postgres_mode_grants_no_file_system_and_no_network_interface_changes() -> None:
    """No EFS in that mode: none of EFS's actions but the one read the Lambda function's schema lists, none
    of the network-interface calls mount targets make, no EFS service-linked role; RDS's and scaling's
    instead."""
    actions = set(granted("postgres"))
    assert sorted(a for a in actions if a.startswith("elasticfilesystem:")) == [
        "elasticfilesystem:describemounttargets"
    ]
    assert not {a for a in actions if a.startswith("ec2:") and "networkinterface" in a} - {
        "ec2:describenetworkinterfaces"
    }
    statements = {s["Sid"]: s for s in role_statements("postgres")}
    assert statements["ServiceLinkedRoles"]["Condition"]["StringEquals"]["iam:AWSServiceName"] == [
        "ecs.amazonaws.com",
        "ecs.application-autoscaling.amazonaws.com",
        "ops.apigateway.amazonaws.com",
        "rds.amazonaws.com",
    ]
    assert {"rds:createdbinstance", "application-autoscaling:registerscalabletarget"} <= actions


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_only_ecs_services_are_scaled_as_the_provisioned_concurrency_exclusions_assume(config: str) -> None:
    assert any("ProvisionedConcurrency" in action for action in exclusions())
    for target in load(config)["Resources"].values():
        if target["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget":
            assert target["Properties"]["ServiceNamespace"] == "ecs"
