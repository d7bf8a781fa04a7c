"""The pure parts of status, logs and diff on inputs shaped as AWS documents them (no AWS, no emulator):
what the emulator cannot show, such as a change set entry with every field CloudFormation fills, or a failed
rollout."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lifecycle.diff import StackDiff, render, render_stack, resource_change
from lifecycle.errors import LifecycleError
from lifecycle.logs import LogEvent, format_event, log_groups, parse_since
from lifecycle.status import HealthProbe, ServiceState, StackState, Status, _problems, image_tag, short_name
from troposphere_templates.config import ProjectConfig

NOW = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", datetime(2026, 11, 28, 6, 50, tzinfo=UTC)),
        ("2h", datetime(2026, 11, 28, 5, 0, tzinfo=UTC)),
        ("1d", datetime(2026, 11, 27, 7, 0, tzinfo=UTC)),
        ("2026-11-28T06:30", datetime(2026, 11, 28, 6, 30, tzinfo=UTC)),
        ("2026-11-28T08:30+02:00", datetime(2026, 11, 28, 6, 30, tzinfo=UTC)),
        ("2026-11-28T06:30:00Z", datetime(2026, 11, 28, 6, 30, tzinfo=UTC)),
    ],
)
def test_since_takes_durations_and_iso_times(text, expected):
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "10", "5 minutes", "-1h"])
def test_since_refuses_anything_else_in_one_line(text):
    with pytest.raises(LifecycleError, match="^--since takes a duration like 10m"):
        parse_since(text, NOW)


def test_log_sources_are_the_templates_log_groups():
    config = ProjectConfig()
    assert log_groups(config) == {
        "api": config.log_groups["api"],
        "authorizer": config.log_groups["authorizer"],
        "gateway": config.log_groups["access"],
    }
    assert list(log_groups(config, "gateway")) == ["gateway"]
    with pytest.raises(LifecycleError, match="--source must be one of api, authorizer, gateway"):
        log_groups(config, "database")


def test_a_log_event_is_one_line_and_coloured_only_when_asked():
    event = LogEvent(1_795_849_200_123, "api", "Traceback:\n  File x\r\nValueError\n", "1")
    assert format_event(event) == "2026-11-28 07:00:00.123  api         Traceback:\\n  File x\\nValueError"
    assert "\x1b[" in format_event(event, colour=True)


# ResourceChange entries shaped as DescribeChangeSet returns them (CloudFormation API reference:
# ResourceChange, ResourceChangeDetail, ResourceTargetDefinition).
SECURITY_GROUP_CHANGE = {
    "Action": "Modify",
    "LogicalResourceId": "TaskSecurityGroup",
    "PhysicalResourceId": "sg-0123456789abcdef0",
    "ResourceType": "AWS::EC2::SecurityGroup",
    "Replacement": "False",
    "Scope": ["Properties"],
    "Details": [
        {
            "Target": {
                "Attribute": "Properties",
                "Name": "SecurityGroupIngress",
                "RequiresRecreation": "Never",
            },
            "Evaluation": "Static",
            "ChangeSource": "ParameterReference",
            "CausingEntity": "AllowedCidr",
        }
    ],
}
ROLE_POLICY_CHANGE = {
    "Action": "Modify",
    "LogicalResourceId": "TaskRoleFileSystemPolicy",
    "ResourceType": "AWS::IAM::RolePolicy",
    "Replacement": "Conditional",
    "Scope": ["Properties"],
    "Details": [
        {
            "Target": {"Attribute": "Properties", "Name": "PolicyDocument", "RequiresRecreation": "Never"},
            "Evaluation": "Dynamic",
            "ChangeSource": "ResourceReference",
            "CausingEntity": "FileSystem.Arn",
        },
        {"Target": {"Attribute": "Tags"}, "Evaluation": "Static", "ChangeSource": "DirectModification"},
    ],
}
TASK_ROLE_ON_SERVICE = {
    "Action": "Modify",
    "LogicalResourceId": "TaskDefinition",
    "ResourceType": "AWS::ECS::TaskDefinition",
    "Replacement": "True",
    "Details": [
        {"Target": {"Attribute": "Properties", "Name": "TaskRoleArn", "RequiresRecreation": "Always"}}
    ],
}


def test_a_change_set_entry_becomes_what_a_person_reads():
    change = resource_change(SECURITY_GROUP_CHANGE)
    assert (change.action, change.replacement, change.properties, change.causes) == (
        "Modify",
        "False",
        ["SecurityGroupIngress"],
        ["AllowedCidr"],
    )
    assert change.security_group and not change.iam
    policy = resource_change(ROLE_POLICY_CHANGE)
    assert policy.iam and policy.replacement == "Conditional"
    assert policy.properties == ["PolicyDocument", "Tags"]
    role_on_task = resource_change(TASK_ROLE_ON_SERVICE)
    assert role_on_task.iam, "a new task role changes what the task may do"


def test_the_diff_flags_replacements_and_calls_out_iam_and_security_groups():
    changes = [resource_change(e) for e in (SECURITY_GROUP_CHANGE, ROLE_POLICY_CHANGE, TASK_ROLE_ON_SERVICE)]
    lines = render_stack(StackDiff("ecs1-app", "update", changes))
    assert lines[0] == "ecs1-app: would be updated, 3 resource change(s)"
    rows = {line.split()[1]: line for line in lines[1:4]}
    assert "REPLACE IAM" in rows["TaskDefinition"]
    assert "may replace IAM" in rows["TaskRoleFileSystemPolicy"]
    assert rows["TaskSecurityGroup"].endswith("SecurityGroupIngress (from AllowedCidr)")
    assert "  ! IAM changes: Modify TaskDefinition, Modify TaskRoleFileSystemPolicy" in lines
    assert "  ! security-group changes: Modify TaskSecurityGroup" in lines
    closing = render(
        [StackDiff("ecs1-app", "update", changes), StackDiff("ecs1-create-pipeline", "unchanged")]
    )
    assert closing.splitlines()[-1].startswith(
        "1 of 2 stack(s) would change: 3 resource change(s), 1 replacement(s)"
    )


def test_names_and_tags_are_read_from_arns_and_image_uris():
    assert short_name("arn:aws:ecs:us-east-1:123456789012:task-definition/ecs1-api:7") == "ecs1-api:7"
    assert image_tag("123456789012.dkr.ecr.us-east-1.amazonaws.com/ecs1:api-3f2c1d0") == "api-3f2c1d0"
    assert image_tag("public.ecr.aws/docker/library/python") == "python"


def status_with(
    service: ServiceState, health: HealthProbe | None = None, app: str = "UPDATE_COMPLETE"
) -> Status:
    return Status(
        project="ecs1",
        region="us-east-1",
        checked_at=NOW.isoformat(),
        stacks=[StackState("ecs1-create-pipeline", "absent"), StackState("ecs1-app", app)],
        service=service,
        api_url="https://abc.execute-api.us-east-1.amazonaws.com",
        health=health,
        authorizer_image="authorizer-1",
        monthly_cost=12.46,
        problems=[],
    )


def test_health_rules_name_each_problem():
    from lifecycle.status import Deployment

    running = ServiceState("ecs1-cluster", "ecs1-api", "ACTIVE", running=1, desired=1)
    ok = HealthProbe("https://abc/health", 200, '{"status":"ok"}', 30.0)
    assert _problems(status_with(running, ok), "ecs1-app") == [], "pipelines not deployed is not a problem"
    failed = ServiceState(
        "ecs1-cluster",
        "ecs1-api",
        "ACTIVE",
        running=0,
        desired=1,
        deployments=[Deployment("ecs-svc/1", "PRIMARY", "ecs1-api:3", "FAILED", "circuit breaker", 0, 1)],
    )
    down = HealthProbe("https://abc/health", 503, '{"detail":"database unavailable"}', 12.0)
    assert _problems(status_with(failed, down, "UPDATE_ROLLBACK_FAILED"), "ecs1-app") == [
        "stack ecs1-app is UPDATE_ROLLBACK_FAILED",
        "service ecs1-api runs 0 of 1 tasks",
        "deployment ecs-svc/1 failed: circuit breaker",
        "https://abc/health answered 503",
    ]
    rolled_back = status_with(running, ok, "UPDATE_ROLLBACK_COMPLETE")
    assert _problems(rolled_back, "ecs1-app") == [], (
        "a rolled-back update leaves the previous version serving"
    )
