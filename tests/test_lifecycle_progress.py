"""Event lines, the spinner/heartbeat, and which event explains a failed stack (pure functions, no AWS)."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

from lifecycle.progress import PLAIN_HEARTBEAT_SECONDS, Progress, format_elapsed, format_event
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


def test_event_line_has_time_resource_type_status_and_one_line_reason():
    line = format_event(event("Service", "CREATE_FAILED", "Resource handler\n  returned   message: boom", 5))
    assert line.startswith("18:00:05  Service ")
    assert "AWS::ECS::Service" in line and "CREATE_FAILED" in line
    assert line.endswith("Resource handler returned message: boom")
    assert "\n" not in line


def test_event_line_without_reason_has_no_trailing_blanks():
    assert format_event(event("Service", "CREATE_COMPLETE")).endswith("CREATE_COMPLETE")


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
    assert out.getvalue().splitlines()[-1].startswith("  18:00:03  ecs1-app")
