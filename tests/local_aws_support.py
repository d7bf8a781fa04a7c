"""Helpers for the local_aws tests: boto3 clients on the emulator and stack deploys through change sets."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3

from local_aws import CREDENTIALS

REGION = CREDENTIALS["AWS_DEFAULT_REGION"]
ACCOUNT = "123456789012"  # moto's default account for any credentials


def client(endpoint_url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def change_set(
    cfn: Any, stack: str, template: dict[str, Any], kind: str, parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    """Create a change set (CREATE or UPDATE) and return its description."""
    created = cfn.create_change_set(
        StackName=stack,
        ChangeSetName=unique("cs"),
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
        ChangeSetType=kind,
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    return cfn.describe_change_set(ChangeSetName=created["Id"])


def deploy(
    cfn: Any,
    stack: str,
    template: dict[str, Any],
    parameters: dict[str, str] | None = None,
    kind: str = "CREATE",
) -> dict[str, Any]:
    """Create or update `stack` the way `invoke deploy` does (a change set, executed); return the stack."""
    described = change_set(cfn, stack, template, kind, parameters)
    cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])
    return cfn.describe_stacks(StackName=described["StackId"])["Stacks"][0]


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def events(cfn: Any, stack: str) -> list[tuple[str, str, str | None]]:
    """(logical id, status, reason), oldest first."""
    return [
        (e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason"))
        for e in reversed(cfn.describe_stack_events(StackName=stack)["StackEvents"])
    ]


def status(cfn: Any, stack: str) -> str:
    return cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]


def vpc_resources(cidr: str = "10.9.0.0/16", subnet_cidr: str = "10.9.0.0/24") -> dict[str, Any]:
    """A VPC, one subnet and a security group: what VPC links, namespaces and services need."""
    return {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": cidr}},
        "Subnet": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {
                "VpcId": {"Ref": "Vpc"},
                "CidrBlock": subnet_cidr,
                "AvailabilityZone": "us-east-1a",
            },
        },
        "SecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {"GroupDescription": "test", "VpcId": {"Ref": "Vpc"}},
        },
    }
