"""CloudFormation stacks: change sets to create or update, delete from any state, events streamed."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from lifecycle.aws import Aws
from lifecycle.errors import LifecycleError
from lifecycle.progress import EventTable, Progress

# CloudFormation refuses a TemplateBody over 51,200 bytes; larger templates go through S3 (TemplateURL).
TEMPLATE_BODY_LIMIT = 51_200
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# A stack whose creation failed cannot be updated: it must be deleted and created again.
RECREATE_STATUSES = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"}
HUMAN_STATUSES = {
    "UPDATE_ROLLBACK_FAILED": (
        "continue the rollback (`aws cloudformation continue-update-rollback --stack-name {name}`, "
        "skipping the resources that block it) or remove the stack with `invoke clean`"
    ),
    "IMPORT_ROLLBACK_FAILED": "fix the imported resources by hand, or remove the stack with `invoke clean`",
}
NO_CHANGE_REASONS = ("didn't contain changes", "No updates are to be performed")
CANCELLED_REASONS = ("Resource creation cancelled", "Resource update cancelled")


def is_waiting_status(status: str) -> bool:
    """True while CloudFormation is still working; REVIEW_IN_PROGRESS only waits for a change set to run."""
    return status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"


def first_failure(events: list[dict[str, Any]], stack_name: str) -> dict[str, Any] | None:
    """The event that explains a failure: the oldest resource failure that is not a mere cancellation."""
    failures = [e for e in events if str(e.get("ResourceStatus", "")).endswith("_FAILED")]
    resource_failures = [e for e in failures if e.get("LogicalResourceId") != stack_name]
    for candidates in (
        [
            e
            for e in resource_failures
            if not str(e.get("ResourceStatusReason", "")).startswith(CANCELLED_REASONS)
        ],
        resource_failures,
        failures,
    ):
        if candidates:
            return min(candidates, key=lambda e: e["Timestamp"])
    return None


def describe_failure(event: dict[str, Any] | None, stack: dict[str, Any]) -> str:
    if event is None:
        return stack.get("StackStatusReason") or "no failure event recorded"
    reason = " ".join(str(event.get("ResourceStatusReason") or "no reason given").split())
    return f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}): {reason}"


def stack_outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _absent(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    return code == "ChangeSetNotFound" or "does not exist" in str(exc)


def change_set_name(purpose: str) -> str:
    """`deploy-20261128-070000-1a2b3c`: what made it and when, as the console lists it."""
    return f"{purpose}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclass
class ChangeSet:
    """A change set of one stack: named before it is created, so that it can be deleted whatever happens."""

    stack: str
    change_type: str  # CREATE or UPDATE
    name: str = field(default_factory=lambda: change_set_name("deploy"))
    id: str = ""
    stack_id: str = ""
    changes: list[dict[str, Any]] = field(default_factory=list)  # CloudFormation's ResourceChange entries
    discarded: bool = False

    @property
    def creates(self) -> bool:
        return self.change_type == "CREATE"


@dataclass
class StackResult:
    name: str
    outcome: str  # created | updated | up to date | not confirmed | deleted | absent
    seconds: float
    outputs: dict[str, str] = field(default_factory=dict)
    resources: str = ""  # what happened to the resources, e.g. "3 updated (1 replaced)"


class Stacks:
    """Stack operations that report progress; `poll_seconds` is how often CloudFormation is asked."""

    def __init__(self, aws: Aws, progress: Progress, poll_seconds: float = 3.0):
        self.cfn = aws.client("cloudformation")
        self.s3 = aws.client("s3")
        self.aws = aws
        self.progress = progress
        self.poll_seconds = poll_seconds

    def describe(self, name: str) -> dict[str, Any] | None:
        """The stack, or None when it does not exist (also when it was deleted)."""
        try:
            stacks = self.cfn.describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
            return None
        return stacks[0]

    def outputs(self, name: str) -> dict[str, str]:
        return stack_outputs(self.describe(name) or {})

    # Waiting and events

    def _seen_events(self, stack_id: str) -> set[str]:
        return {e["EventId"] for e in self.cfn.describe_stack_events(StackName=stack_id)["StackEvents"]}

    def _new_events(self, stack_id: str, seen: set[str]) -> list[dict[str, Any]]:
        """Events not printed yet, oldest first; pages are read only until a known event shows up."""
        new: list[dict[str, Any]] = []
        for page in self.cfn.get_paginator("describe_stack_events").paginate(StackName=stack_id):
            fresh = [e for e in page["StackEvents"] if e["EventId"] not in seen]
            new.extend(fresh)
            if len(fresh) < len(page["StackEvents"]):
                break
        seen.update(e["EventId"] for e in new)
        return sorted(new, key=lambda e: e["Timestamp"])

    def wait(
        self,
        stack_id: str,
        name: str,
        seen: set[str],
        operation_started: bool = True,
        table: EventTable | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Show resources as they settle until the stack settles; return its final description and the events.

        Right after an execute or delete call, CloudFormation may still report the stack's previous, settled
        status. For a call just made (`operation_started=False`), a settled status counts only once the
        stack's own event for that operation has arrived.
        """
        started = time.monotonic()
        table = table or EventTable(name, datetime.now(UTC))
        self.progress.line(table.header())
        events: list[dict[str, Any]] = []
        next_poll = 0.0
        while True:
            now = time.monotonic()
            if now >= next_poll:
                stack = self.cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
                for event in self._new_events(stack_id, seen):
                    events.append(event)
                    self._show(table, event)
                    if event.get("PhysicalResourceId") == stack_id or event.get("LogicalResourceId") == name:
                        operation_started = True
                if operation_started and not is_waiting_status(stack["StackStatus"]):
                    # The last events can land just after the status: show them too.
                    for event in self._new_events(stack_id, seen):
                        events.append(event)
                        self._show(table, event)
                    self.progress.done()
                    return stack, events
                next_poll = now + self.poll_seconds
            self.progress.status(f"{name} {stack['StackStatus']} {table.busy()}".rstrip(), started)
            time.sleep(min(0.2, self.poll_seconds))

    def _show(self, table: EventTable, event: dict[str, Any]) -> None:
        for row in table.rows(event):
            self.progress.line(row)

    # Deploy

    def _template_argument(self, name: str, body: str, bucket: str | None) -> dict[str, str]:
        if len(body.encode()) <= TEMPLATE_BODY_LIMIT:
            return {"TemplateBody": body}
        if not bucket:
            raise LifecycleError(
                f"the {name} template is over {TEMPLATE_BODY_LIMIT} bytes and needs a bucket"
            )
        key = f"templates/{name}/{hashlib.sha256(body.encode()).hexdigest()[:16]}.json"
        self.s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
        return {"TemplateURL": f"https://{bucket}.s3.{self.aws.region}.amazonaws.com/{key}"}

    def _settle_before_deploy(self, name: str) -> dict[str, Any] | None:
        """Bring an existing stack to a state a change set can start from; None means create it afresh."""
        stack = self.describe(name)
        if stack and is_waiting_status(stack["StackStatus"]):
            self.progress.line(f"{name} is {stack['StackStatus']}: waiting for it to finish first")
            self.wait(stack["StackId"], name, self._seen_events(stack["StackId"]))
            stack = self.describe(name)
        if stack is None:
            return None
        status = stack["StackStatus"]
        if status in HUMAN_STATUSES:
            raise LifecycleError(
                f"stack {name} is {status} and needs a human: " + HUMAN_STATUSES[status].format(name=name)
            )
        if status in RECREATE_STATUSES or status == "REVIEW_IN_PROGRESS":
            why = {
                "REVIEW_IN_PROGRESS": "it was never created (only a change set exists)",
                "DELETE_FAILED": "an earlier delete failed",
            }.get(status, "its creation failed")
            self.progress.line(f"{name} is {status} ({why}): deleting it before creating it again")
            self.delete(name)
            return None
        return stack

    def deploy(
        self,
        name: str,
        body: str,
        parameters: dict[str, str],
        tags: dict[str, str],
        bucket: str | None = None,
        review: Callable[[ChangeSet], bool] | None = None,
    ) -> StackResult:
        """Create or update `name` through a change set; an empty change set means up to date.

        `review` sees the change set before it runs and may decline it (then it is deleted, nothing changes).
        """
        started = time.monotonic()
        existing = self._settle_before_deploy(name)
        if existing and self.unchanged(existing, body, parameters, tags):
            return StackResult(name, "up to date", time.monotonic() - started, stack_outputs(existing))
        change_set = ChangeSet(name, "UPDATE" if existing else "CREATE")
        try:
            if not self.create_change_set(change_set, body, parameters, tags, bucket, started):
                return StackResult(name, "up to date", time.monotonic() - started, self.outputs(name))
            if review and not review(change_set):
                self.discard(change_set)
                return StackResult(name, "not confirmed", time.monotonic() - started, self.outputs(name))
        except BaseException:
            self.discard(change_set)
            raise
        stack_id = change_set.stack_id
        seen = self._seen_events(stack_id)
        resources = {c["LogicalResourceId"]: c["ResourceType"] for c in change_set.changes}
        verb = "creating" if change_set.creates else "updating"
        self.progress.line(f"{name}: {verb} ({len(resources)} resource change(s))")
        table = EventTable(name, datetime.now(UTC), resources)
        self.cfn.execute_change_set(ChangeSetName=change_set.id)
        stack, events = self.wait(stack_id, name, seen, operation_started=False, table=table)
        status = stack["StackStatus"]
        if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            next_step = (
                "the next deploy deletes and recreates it; `invoke clean` removes it"
                if status in RECREATE_STATUSES
                else "the next deploy retries; `invoke clean` removes it"
            )
            raise LifecycleError(
                f"stack {name} {change_set.change_type.lower()} failed ({status}): "
                f"{describe_failure(first_failure(events, name), stack)}; {next_step}"
            )
        outcome = "created" if change_set.creates else "updated"
        return StackResult(name, outcome, time.monotonic() - started, stack_outputs(stack), table.summary())

    # Change sets

    def create_change_set(
        self,
        change_set: ChangeSet,
        body: str,
        parameters: dict[str, str],
        tags: dict[str, str],
        bucket: str | None,
        started: float,
    ) -> bool:
        """Create `change_set` and wait until CloudFormation has computed it; False when it changes nothing
        (the empty change set is deleted then)."""
        return self.start_change_set(change_set, body, parameters, tags, bucket) and self.finish_change_set(
            change_set, started
        )

    def start_change_set(
        self,
        change_set: ChangeSet,
        body: str,
        parameters: dict[str, str],
        tags: dict[str, str],
        bucket: str | None,
    ) -> bool:
        """Ask CloudFormation for the change set (computed in the background); False when it says at once
        that nothing changes."""
        try:
            created = self.cfn.create_change_set(
                StackName=change_set.stack,
                ChangeSetName=change_set.name,
                ChangeSetType=change_set.change_type,
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())],
                Capabilities=CAPABILITIES,
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
                **self._template_argument(change_set.stack, body, bucket),
            )
        except ClientError as exc:
            # AWS reports "no changes" as a FAILED change set (below); some emulators refuse to create one.
            if any(marker in str(exc) for marker in NO_CHANGE_REASONS):
                return False
            raise
        change_set.id, change_set.stack_id = created["Id"], created["StackId"]
        return True

    def finish_change_set(self, change_set: ChangeSet, started: float) -> bool:
        """Wait for a started change set and read all its changes; False when it changes nothing."""
        described = self._wait_change_set(change_set.id, change_set.stack, started)
        if described["Status"] == "FAILED":
            reason = " ".join(str(described.get("StatusReason", "")).split())
            self.discard(change_set)
            if any(marker in reason for marker in NO_CHANGE_REASONS):
                return False
            raise LifecycleError(f"stack {change_set.stack}: the change set failed: {reason}")
        changes = described.get("Changes", [])
        token = described.get("NextToken")
        while token:
            page = self.cfn.describe_change_set(ChangeSetName=change_set.id, NextToken=token)
            changes += page.get("Changes", [])
            token = page.get("NextToken")
        change_set.changes = [c["ResourceChange"] for c in changes if c.get("Type") == "Resource"]
        return True

    def discard(self, change_set: ChangeSet) -> None:
        """Delete the change set, and the empty REVIEW_IN_PROGRESS stack a CREATE change set made; safe
        whatever happened before (also after an interruption in the middle of creating it)."""
        if change_set.discarded:
            return
        try:
            self.cfn.delete_change_set(ChangeSetName=change_set.name, StackName=change_set.stack)
        except ClientError as exc:
            if not _absent(exc):
                raise
        if change_set.creates:
            stack = self.describe(change_set.stack)
            if stack and stack["StackStatus"] == "REVIEW_IN_PROGRESS":
                self.cfn.delete_stack(StackName=stack["StackId"])
        change_set.discarded = True

    def unchanged(
        self, stack: dict[str, Any], body: str, parameters: dict[str, str], tags: dict[str, str]
    ) -> bool:
        """Same template, parameter values and tags as deployed: no change set needed.

        CloudFormation takes seconds per stack to compute even an empty change set, so an unchanged redeploy
        skips it. Only JSON templates are compared; anything else goes through a change set.
        """
        try:
            wanted = json.loads(body)
        except ValueError:
            return False
        deployed = self.cfn.get_template(StackName=stack["StackId"], TemplateStage="Original")["TemplateBody"]
        if isinstance(deployed, str):
            try:
                deployed = json.loads(deployed)
            except ValueError:
                return False
        if deployed != wanted:
            return False
        declared = wanted.get("Parameters", {})
        expected = {key: str(parameters.get(key, spec.get("Default", ""))) for key, spec in declared.items()}
        actual = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
        current_tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
        return expected == actual and current_tags == tags

    def _wait_change_set(self, change_set_id: str, name: str, started: float) -> dict[str, Any]:
        while True:
            change_set = self.cfn.describe_change_set(ChangeSetName=change_set_id)
            if change_set["Status"] in ("CREATE_COMPLETE", "FAILED"):
                self.progress.done()
                return change_set
            self.progress.status(f"{name}: computing the change set", started)
            time.sleep(min(1.0, self.poll_seconds))

    # Delete

    def delete(self, name: str) -> StackResult:
        """Delete `name` whatever its state; a DELETE_FAILED is retried once, then the blockers are named."""
        started = time.monotonic()
        stack = self.describe(name)
        if stack is None:
            return StackResult(name, "absent", 0.0)
        stack_id = stack["StackId"]
        if is_waiting_status(stack["StackStatus"]) and stack["StackStatus"] != "DELETE_IN_PROGRESS":
            self.progress.line(f"{name} is {stack['StackStatus']}: waiting for it to finish first")
            self.wait(stack_id, name, self._seen_events(stack_id))
        for attempt in (1, 2):
            seen = self._seen_events(stack_id)
            if attempt == 2:
                self.progress.line(f"{name} is DELETE_FAILED: retrying the delete")
            else:
                self.progress.line(f"{name}: deleting")
            self.cfn.delete_stack(StackName=stack_id)
            stack, events = self.wait(stack_id, name, seen, operation_started=False)
            if stack["StackStatus"] == "DELETE_COMPLETE":
                return StackResult(name, "deleted", time.monotonic() - started)
        blockers = self._blocking_resources(stack_id, events) or [
            describe_failure(first_failure(events, name), stack)
        ]
        raise LifecycleError(
            f"stack {name} is still DELETE_FAILED after a retry; blocked by: {'; '.join(blockers)} "
            "(remove or empty those resources, then run `invoke clean` again)"
        )

    def _blocking_resources(self, stack_id: str, events: list[dict[str, Any]]) -> list[str]:
        """Resources left DELETE_FAILED, each with its reason (from the resource, else its latest event)."""
        reasons = {
            e["LogicalResourceId"]: e.get("ResourceStatusReason")
            for e in sorted(events, key=lambda e: e["Timestamp"])
            if e.get("ResourceStatus") == "DELETE_FAILED"
        }
        blockers = []
        for page in self.cfn.get_paginator("list_stack_resources").paginate(StackName=stack_id):
            for resource in page["StackResourceSummaries"]:
                if resource["ResourceStatus"] == "DELETE_FAILED":
                    logical_id = resource["LogicalResourceId"]
                    reason = (
                        resource.get("ResourceStatusReason") or reasons.get(logical_id) or "no reason given"
                    )
                    blockers.append(
                        f"{logical_id} ({resource['ResourceType']}): {' '.join(str(reason).split())}"
                    )
        return blockers
