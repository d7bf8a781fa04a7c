"""How stacks fail on the emulator, against moto's real server on 127.0.0.1: a failed create rolls back to
ROLLBACK_COMPLETE, a failed update to UPDATE_ROLLBACK_COMPLETE, a failed delete stops in DELETE_FAILED until
RetainResources lets it finish; events carry the reasons; change sets answer as AWS does.

Failures are provoked with the emulator's test-only Local::Test::Failure type: no real AWS account (and so no
real failure) is reachable here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

import local_aws
from tests.local_aws_support import change_set, client, deploy, events, outputs, status, unique


@pytest.fixture(scope="module")
def endpoint_url() -> Iterator[str]:
    with local_aws.running() as url:
        yield url


@pytest.fixture
def cfn(endpoint_url: str) -> Any:
    return client(endpoint_url, "cloudformation")


@pytest.fixture
def secrets(endpoint_url: str) -> Any:
    return client(endpoint_url, "secretsmanager")


def _secret(description: str = "kept") -> dict[str, Any]:
    return {
        "Type": "AWS::SecretsManager::Secret",
        "Properties": {"Description": description, "SecretString": "s"},
    }


def _failure(fail_on: str, reason: str, depends_on: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "Type": local_aws.FAILURE_TYPE,
        "Properties": {"FailOn": fail_on, "Reason": reason},
    }
    if depends_on:
        resource["DependsOn"] = depends_on
    return resource


def _template(resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "Resources": resources,
        "Outputs": {"SecretArn": {"Value": {"Ref": "Secret"}}} if "Secret" in resources else {},
    }


def _secret_exists(secrets: Any, arn: str) -> bool:
    try:
        secrets.describe_secret(SecretId=arn)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ResourceNotFoundException"
        return False
    return True


def test_failed_create_rolls_back_to_rollback_complete(cfn: Any, secrets: Any) -> None:
    name = unique("fails-on-create")
    template = _template({"Secret": _secret(), "Boom": _failure("Create", "disk full", depends_on="Secret")})

    stack = deploy(cfn, name, template)

    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "Outputs" not in stack, "a rolled-back stack has no outputs"
    history = events(cfn, name)
    assert ("Boom", "CREATE_FAILED", "disk full") in history
    assert (
        name,
        "ROLLBACK_IN_PROGRESS",
        "The following resource(s) failed to create: [Boom]. Rollback requested by user.",
    ) in history
    assert [e[:2] for e in history if e[0] == "Secret"] == [
        ("Secret", "CREATE_IN_PROGRESS"),
        ("Secret", "CREATE_COMPLETE"),
        ("Secret", "DELETE_IN_PROGRESS"),
        ("Secret", "DELETE_COMPLETE"),
    ]
    assert history[-1][:2] == (name, "ROLLBACK_COMPLETE")
    assert [s for s in secrets.list_secrets()["SecretList"] if name in s["Name"]] == [], (
        "created resources removed"
    )
    with pytest.raises(WaiterError, match="ROLLBACK_COMPLETE"):
        cfn.get_waiter("stack_create_complete").wait(
            StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 2}
        )


def test_a_rolled_back_stack_cannot_be_updated_or_recreated_only_deleted(cfn: Any) -> None:
    name = unique("rolled-back")
    template = _template({"Boom": _failure("Create", "nope")})
    stack_id = deploy(cfn, name, template)["StackId"]

    with pytest.raises(ClientError, match="is in ROLLBACK_COMPLETE state and can not be updated"):
        change_set(cfn, name, template, "UPDATE")
    with pytest.raises(ClientError, match="already exists and cannot be created again"):
        change_set(cfn, name, template, "CREATE")
    cfn.delete_stack(StackName=name)

    assert status(cfn, stack_id) == "DELETE_COMPLETE"
    assert name not in [
        s["StackName"] for s in cfn.list_stacks(StackStatusFilter=["ROLLBACK_COMPLETE"])["StackSummaries"]
    ]


def test_create_stack_call_fails_the_same_way(cfn: Any) -> None:
    name = unique("create-stack")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(_template({"Boom": _failure("Create", "x")})))

    assert status(cfn, name) == "ROLLBACK_COMPLETE"


def test_unemulated_type_fails_the_create_instead_of_being_skipped(cfn: Any) -> None:
    name = unique("unknown-type")

    stack = deploy(cfn, name, _template({"Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}}}))

    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert (
        "Alarm",
        "CREATE_FAILED",
        "local_aws does not emulate resource type AWS::CloudWatch::Alarm",
    ) in events(cfn, name)


def test_a_missing_required_property_fails_the_resource_with_a_clear_reason(cfn: Any) -> None:
    name = unique("missing-property")
    link = {"Type": "AWS::ApiGatewayV2::VpcLink", "Properties": {"Name": "no-subnets"}}

    assert deploy(cfn, name, _template({"Link": link}))["StackStatus"] == "ROLLBACK_COMPLETE"
    assert (
        "Link",
        "CREATE_FAILED",
        "Properties validation failed: required key [SubnetIds] not found",
    ) in events(cfn, name)


def test_failed_delete_stops_in_delete_failed_then_retain_resources_finishes(cfn: Any, secrets: Any) -> None:
    name = unique("fails-on-delete")
    stack = deploy(
        cfn, name, _template({"Secret": _secret(), "Stuck": _failure("Delete", "bucket not empty")})
    )
    secret_arn = outputs(stack)["SecretArn"]

    cfn.delete_stack(StackName=name)

    assert status(cfn, name) == "DELETE_FAILED", "the stack is kept, under its name"
    history = events(cfn, name)
    assert ("Stuck", "DELETE_FAILED", "bucket not empty") in history
    assert (name, "DELETE_FAILED", "The following resource(s) failed to delete: [Stuck]. ") in history
    assert not _secret_exists(secrets, secret_arn), "the other resources are deleted"
    summaries = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    assert [(r["LogicalResourceId"], r["ResourceStatus"]) for r in summaries] == [("Stuck", "DELETE_FAILED")]
    (described,) = cfn.describe_stack_resources(StackName=name)["StackResources"]
    assert (described["LogicalResourceId"], described["ResourceStatus"]) == ("Stuck", "DELETE_FAILED")
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 2}
        )

    cfn.delete_stack(StackName=name)
    assert status(cfn, name) == "DELETE_FAILED", "a plain retry meets the same failure"

    stack_id = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName=name, RetainResources=["Stuck"])

    assert status(cfn, stack_id) == "DELETE_COMPLETE"
    assert events(cfn, stack_id)[-2][:2] == ("Stuck", "DELETE_SKIPPED")
    with pytest.raises(ClientError, match="does not exist"):
        cfn.describe_stacks(StackName=name)


def test_retain_resources_is_refused_unless_the_stack_is_delete_failed(cfn: Any) -> None:
    name = unique("healthy")
    deploy(cfn, name, _template({"Secret": _secret()}))

    with pytest.raises(ClientError, match="RetainResources can only be specified"):
        cfn.delete_stack(StackName=name, RetainResources=["Secret"])

    assert status(cfn, name) == "CREATE_COMPLETE"


def test_failed_update_rolls_back_to_the_previous_template(cfn: Any, secrets: Any) -> None:
    name = unique("fails-on-update")
    stack = deploy(cfn, name, _template({"Secret": _secret("v1"), "Gate": _failure("Update", "quota")}))
    secret_arn = outputs(stack)["SecretArn"]
    broken = _template(
        {
            "Secret": _secret("v2"),
            "Added": _secret("new"),
            "Gate": {**_failure("Update", "quota exceeded"), "DependsOn": ["Secret", "Added"]},
        }
    )

    stack = deploy(cfn, name, broken, kind="UPDATE")

    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    history = events(cfn, name)
    assert ("Gate", "UPDATE_FAILED", "quota exceeded") in history
    assert (
        name,
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "The following resource(s) failed to update: [Gate]. ",
    ) in history
    assert secrets.describe_secret(SecretId=secret_arn)["Description"] == "v1", (
        "the changed resource is restored"
    )
    added = [e for e in history if e[0] == "Added"]
    assert [e[1] for e in added] == [
        "CREATE_IN_PROGRESS",
        "CREATE_COMPLETE",
        "DELETE_IN_PROGRESS",
        "DELETE_COMPLETE",
    ]
    assert outputs(stack) == {"SecretArn": secret_arn}

    fixed = _template({"Secret": _secret("v3"), "Gate": _failure("Update", "quota")})
    assert deploy(cfn, name, fixed, kind="UPDATE")["StackStatus"] == "UPDATE_COMPLETE", (
        "the stack can be updated"
    )


def test_change_sets_answer_like_cloudformation(cfn: Any) -> None:
    name = unique("change-sets")
    template = {
        "Parameters": {"Label": {"Type": "String", "Default": "a"}},
        "Resources": {
            "Secret": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"Description": {"Ref": "Label"}, "SecretString": "s"},
            }
        },
        "Outputs": {"Label": {"Value": {"Ref": "Label"}}},
    }
    created = change_set(cfn, name, template, "CREATE", {"Label": "a"})
    assert (created["Status"], created["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")
    assert status(cfn, name) == "REVIEW_IN_PROGRESS"
    cfn.get_waiter("change_set_create_complete").wait(ChangeSetName=created["ChangeSetId"])
    cfn.execute_change_set(ChangeSetName=created["ChangeSetId"])
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    assert outputs(cfn.describe_stacks(StackName=name)["Stacks"][0]) == {"Label": "a"}

    # ExecuteChangeSet's error for a change set that cannot run (AWS CloudFormation API reference).
    with pytest.raises(ClientError, match="InvalidChangeSetStatus"):
        cfn.execute_change_set(ChangeSetName=created["ChangeSetId"])

    unchanged = change_set(cfn, name, template, "UPDATE", {"Label": "a"})
    assert unchanged["Status"] == "FAILED"
    assert unchanged["StatusReason"] == (
        "The submitted information didn't contain changes. "
        "Submit different information to create a change set."
    )
    assert unchanged["ExecutionStatus"] == "UNAVAILABLE"

    relabelled = change_set(cfn, name, template, "UPDATE", {"Label": "b"})
    assert relabelled["Status"] == "CREATE_COMPLETE", "a parameter change alone is a change"
    assert [
        (c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"])
        for c in relabelled["Changes"]
    ] == [("Modify", "Secret")], "listing the resource that uses the parameter"
    cfn.execute_change_set(ChangeSetName=relabelled["ChangeSetId"])
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    assert outputs(cfn.describe_stacks(StackName=name)["Stacks"][0]) == {"Label": "b"}
    assert ("Secret", "UPDATE_COMPLETE", None) in events(cfn, name), (
        "the resource using the parameter is updated"
    )
    assert change_set(cfn, name, template, "UPDATE", {"Label": "b"})["Status"] == "FAILED", "b is now current"


def test_events_follow_dependency_order(cfn: Any) -> None:
    name = unique("order")
    # Listed before what it references: AWS still creates the referenced resource first.
    template = {
        "Resources": {
            "Second": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {"SecretString": "s", "Description": {"Fn::Sub": "after ${First}"}},
            },
            "First": _secret(),
        }
    }

    deploy(cfn, name, template)
    cfn.delete_stack(StackName=name)

    stack_id = cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]
    stack_id = next(s["StackId"] for s in stack_id if s["StackName"] == name)
    resource_events = [e[:2] for e in events(cfn, stack_id) if e[0] != name]
    assert resource_events == [
        ("First", "CREATE_IN_PROGRESS"),
        ("First", "CREATE_COMPLETE"),
        ("Second", "CREATE_IN_PROGRESS"),
        ("Second", "CREATE_COMPLETE"),
        ("Second", "DELETE_IN_PROGRESS"),
        ("Second", "DELETE_COMPLETE"),
        ("First", "DELETE_IN_PROGRESS"),
        ("First", "DELETE_COMPLETE"),
    ]


def test_deleting_a_stack_that_does_not_exist_succeeds(cfn: Any) -> None:
    cfn.delete_stack(StackName=unique("never-created"))
