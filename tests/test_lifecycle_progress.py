"""The event table, the spinner/heartbeat, and which event explains a failed stack (pure, no AWS)."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from lifecycle.progress import PLAIN_HEARTBEAT_SECONDS, REPLACING_REASON, EventTable, Progress, format_elapsed
from lifecycle.stacks import describe_failure, first_failure, is_waiting_status

T0 = datetime(2026, 11, 27, 18, 0, 0, tzinfo=UTC)


def event(logical: str, status: str, reason: str = "", seconds: int = 0, kind: str = "AWS::ECS::Service"):
    return {
        "EventId": f"{logical}-{status}-{seconds}",
        "Timestamp": T0 + timedelta(seconds=seconds),
        "LogicalResourceId": logical,
        "ResourceType": kind,
        "ResourceStatus": status,
        "ResourceStatusReason": reason,
    }


def test_a_resource_gets_one_row_when_it_settles_with_elapsed_time_and_duration():
    table = EventTable("ecs1-app", T0, {"Service": "AWS::ECS::Service", "Queue": "AWS::SQS::Queue"})
    assert table.rows(event("Service", "CREATE_IN_PROGRESS", "", 3)) == []
    assert table.busy() == "in progress: Service"
    [row] = table.rows(event("Service", "CREATE_COMPLETE", "", 65))
    assert row.split() == ["1:05", "Service", "AWS::ECS::Service", "CREATE_COMPLETE", "62s"]
    assert table.busy() == ""


def test_rows_are_aligned_and_a_failure_reason_is_one_line():
    table = EventTable("ecs1-app", T0, {"Service": "AWS::ECS::Service", "LongQueueName": "AWS::SQS::Queue"})
    table.rows(event("LongQueueName", "CREATE_IN_PROGRESS", "", 1, "AWS::SQS::Queue"))
    [first] = table.rows(event("LongQueueName", "CREATE_COMPLETE", "", 2, "AWS::SQS::Queue"))
    [second] = table.rows(
        event("Service", "CREATE_FAILED", "Resource handler\n  returned   message: boom", 9)
    )
    assert first.index("CREATE_COMPLETE") == second.index("CREATE_FAILED") == table.header().index("status")
    assert first.index("AWS::SQS::Queue") == second.index("AWS::ECS::Service") == table.header().index("type")
    assert second.endswith("Resource handler returned message: boom")
    assert "\n" not in second


def test_the_stack_itself_shows_only_when_it_fails_or_rolls_back():
    table = EventTable("ecs1-app", T0)
    assert table.rows(event("ecs1-app", "UPDATE_COMPLETE", "", 5, "AWS::CloudFormation::Stack")) == []
    [row] = table.rows(
        event("ecs1-app", "UPDATE_ROLLBACK_IN_PROGRESS", "failed: [Service]", 6, "AWS::CloudFormation::Stack")
    )
    assert "UPDATE_ROLLBACK_IN_PROGRESS" in row and row.endswith("failed: [Service]")


def test_a_replacement_is_marked_and_counted_in_the_summary():
    table = EventTable("ecs1-app", T0)
    table.rows(event("Task", "UPDATE_IN_PROGRESS", "", 1, "AWS::ECS::TaskDefinition"))
    table.rows(
        event(
            "Task",
            "UPDATE_IN_PROGRESS",
            REPLACING_REASON + "; hence creating one.",
            2,
            "AWS::ECS::TaskDefinition",
        )
    )
    [replaced] = table.rows(event("Task", "UPDATE_COMPLETE", "", 4, "AWS::ECS::TaskDefinition"))
    assert replaced.endswith("replaced")
    table.rows(event("Service", "UPDATE_COMPLETE", "", 5))
    table.rows(event("Queue", "CREATE_COMPLETE", "", 6, "AWS::SQS::Queue"))
    assert table.summary() == "2 updated (1 replaced), 1 created"
    assert EventTable("x", T0).summary() == "no resource changed"


def test_elapsed_is_minutes_and_seconds():
    assert format_elapsed(0) == "0:00"
    assert format_elapsed(125.9) == "2:05"


def test_tty_spinner_is_rewritten_in_place_and_cleared_before_a_line():
    out = io.StringIO()
    progress = Progress(stream=out, tty=True)
    started = time.monotonic() - 65
    progress.status("ecs1-app CREATE_IN_PROGRESS", started)
    progress.status("ecs1-app CREATE_IN_PROGRESS", started)
    progress.line("  event")
    text = out.getvalue()
    assert text.startswith("\r\x1b[K| ecs1-app CREATE_IN_PROGRESS 1:05\r\x1b[K/ ecs1-app")
    assert text.endswith("\r\x1b[K  event\n")


def test_plain_output_has_no_control_characters_and_a_heartbeat_only_now_and_then():
    out = io.StringIO()
    progress = Progress(stream=out, tty=False)
    progress.status("ecs1-app DELETE_IN_PROGRESS", time.monotonic())
    assert out.getvalue() == ""
    progress.status("ecs1-app DELETE_IN_PROGRESS", time.monotonic() - PLAIN_HEARTBEAT_SECONDS - 1)
    progress.status("ecs1-app DELETE_IN_PROGRESS", time.monotonic() - PLAIN_HEARTBEAT_SECONDS - 2)
    assert out.getvalue() == "... ecs1-app DELETE_IN_PROGRESS 0:31\n"
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()


def test_first_failure_is_the_oldest_real_resource_failure_not_a_cancellation():
    events = [
        event("ecs1-app", "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [Service]", 9),
        event("Queue", "CREATE_FAILED", "Resource creation cancelled", 8, "AWS::SQS::Queue"),
        event("Service", "CREATE_FAILED", "Invalid request provided: no such image", 7),
        event("Service", "CREATE_IN_PROGRESS", "", 3),
    ]
    failure = first_failure(events, "ecs1-app")
    assert failure is not None and failure["LogicalResourceId"] == "Service"
    expected = "Service (AWS::ECS::Service): Invalid request provided: no such image"
    assert describe_failure(failure, {}) == expected


def test_without_resource_failures_the_stack_reason_explains():
    events = [event("ecs1-app", "UPDATE_ROLLBACK_COMPLETE", "", 4, "AWS::CloudFormation::Stack")]
    assert first_failure(events, "ecs1-app") is None
    assert describe_failure(None, {"StackStatusReason": "Parameter X is invalid"}) == "Parameter X is invalid"


def test_only_working_states_are_waited_for():
    assert is_waiting_status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    assert is_waiting_status("DELETE_IN_PROGRESS")
    assert not is_waiting_status("REVIEW_IN_PROGRESS")
    assert not is_waiting_status("ROLLBACK_COMPLETE")


class ScriptedCloudFormation:
    """AWS's asynchrony, which moto (synchronous) cannot show: right after an execute call a stack may still
    report its old settled status until the operation's first event arrives. Each poll shows the next step."""

    meta = SimpleNamespace(endpoint_url="https://cloudformation.us-east-1.amazonaws.com")

    def __init__(self, steps: list[tuple[str, list[dict]]]):
        self.steps = steps
        self.polls = 0
        self.events: list[dict] = []

    def describe_stacks(self, StackName: str) -> dict:
        status, new_events = self.steps[min(self.polls, len(self.steps) - 1)]
        if self.polls < len(self.steps):
            self.events = new_events + self.events
        self.polls += 1
        return {"Stacks": [{"StackId": StackName, "StackName": "ecs1-app", "StackStatus": status}]}

    def get_paginator(self, operation: str):
        events = self.events

        class Pages:
            def paginate(self, StackName: str):
                return iter([{"StackEvents": list(events)}])

        return Pages()


class ScriptedAws:
    def __init__(self, cfn: ScriptedCloudFormation):
        self.cfn = cfn

    def client(self, service: str):
        return self.cfn


def test_a_just_executed_update_is_not_done_while_the_old_status_shows():
    from lifecycle.stacks import Stacks

    stack_event = event("ecs1-app", "UPDATE_IN_PROGRESS", "User Initiated", 1, "AWS::CloudFormation::Stack")
    done_event = event("ecs1-app", "UPDATE_COMPLETE", "", 3, "AWS::CloudFormation::Stack")
    cfn = ScriptedCloudFormation(
        [
            ("UPDATE_COMPLETE", []),  # the previous update's status, before this one shows
            ("UPDATE_IN_PROGRESS", [stack_event]),
            ("UPDATE_IN_PROGRESS", [event("Service", "UPDATE_COMPLETE", "", 2)]),
            ("UPDATE_COMPLETE", [done_event]),
        ]
    )
    out = io.StringIO()
    stacks = Stacks(ScriptedAws(cfn), Progress(stream=out, tty=False), poll_seconds=0.01)
    final, printed = stacks.wait("stack-id", "ecs1-app", set(), operation_started=False)
    assert final["StackStatus"] == "UPDATE_COMPLETE"
    assert cfn.polls == 4
    assert [e["ResourceStatus"] for e in printed] == [
        "UPDATE_IN_PROGRESS",
        "UPDATE_COMPLETE",
        "UPDATE_COMPLETE",
    ]
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["elapsed", "resource", "type"]
    assert [line.split()[1:4] for line in lines[1:]] == [["Service", "AWS::ECS::Service", "UPDATE_COMPLETE"]]


def test_an_emulator_on_this_machine_is_polled_often_and_aws_at_the_pace_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lifecycle.aws import LOCAL_POLL_SECONDS, Aws
    from lifecycle.stacks import Stacks

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    progress = Progress(stream=io.StringIO(), tty=False)
    for endpoint in ("http://127.0.0.1:5000", "http://localhost:5000"):
        assert Stacks(Aws("us-east-1", endpoint_url=endpoint), progress).poll_seconds == LOCAL_POLL_SECONDS
    for endpoint in (None, "https://cloudformation.us-east-1.amazonaws.com"):
        assert Stacks(Aws("us-east-1", endpoint_url=endpoint), progress).poll_seconds == 3.0
    assert Stacks(Aws("us-east-1", endpoint_url="http://127.0.0.1:5000"), progress, 0.05).poll_seconds == 0.05
