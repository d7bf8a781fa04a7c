"""CloudFormation stacks: change sets to create or update, delete from any state, events streamed."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from lifecycle.aws import Aws, poll_interval
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
# Another deployment got there first: the stack is being changed ("... is in UPDATE_IN_PROGRESS state and can
# not be updated"), was created meanwhile, or changed since this change set was computed (ExecuteChangeSet's
# InvalidChangeSetStatus: the change set is OBSOLETE). Waiting and computing a new change set is the answer.
BUSY_CODES = ("AlreadyExistsException", "InvalidChangeSetStatus", "InvalidChangeSetStatusException")
BUSY_MARKER = "_IN_PROGRESS state"
BUSY_ATTEMPTS = 20

# Parameter values for a change set; None keeps the stack's current value (UsePreviousValue). A callable
# computes them from the stack as it is just before each attempt (None when it does not exist yet).
ParameterValues = Mapping[str, str | None]
ParameterSource = ParameterValues | Callable[[dict[str, Any] | None], ParameterValues]
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


class Outcome(StrEnum):
    """What a stack operation did; the value is how the closing lines say it."""

    CREATED = "created"
    UPDATED = "updated"
    UP_TO_DATE = "up to date"
    NOT_CONFIRMED = "not confirmed"
    DELETED = "deleted"
    ABSENT = "absent"


class StackBusy(Exception):
    """Another deployment is changing, or has just changed, the stack: wait, then compute a new change set."""


def is_busy(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in BUSY_CODES or BUSY_MARKER in str(exc)


def change_set_parameters(values: ParameterValues) -> list[dict[str, Any]]:
    return [
        {"ParameterKey": key, "UsePreviousValue": True}
        if value is None
        else {"ParameterKey": key, "ParameterValue": value}
        for key, value in sorted(values.items())
    ]


def stack_parameters(stack: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}


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
    outcome: Outcome
    seconds: float
    outputs: dict[str, str] = field(default_factory=dict)
    resources: str = ""  # what happened to the resources, e.g. "3 updated (1 replaced)"


class Stacks:
    """Stack operations that report progress; `poll_seconds` is how often CloudFormation is asked (on AWS;
    an emulator on this machine is asked more often: `poll_interval`)."""

    def __init__(self, aws: Aws, progress: Progress, poll_seconds: float = 3.0):
        self.cfn = aws.client("cloudformation")
        self.s3 = aws.client("s3")
        self.aws = aws
        self.progress = progress
        self.poll_seconds = poll_interval(aws, poll_seconds)

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

    def _settle_before_deploy(self, name: str, recreate: bool = True) -> dict[str, Any] | None:
        """Bring an existing stack to a state a change set can start from; None means create it afresh
        (or, with `recreate=False`, that there is no stack to change: one that never got created is left as
        it is for whoever creates it)."""
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
            if not recreate:
                return None
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
        body: str | None,
        parameters: ParameterSource,
        tags: dict[str, str],
        bucket: str | None = None,
        role_arn: str | None = None,
        create: bool = True,
        review: Callable[[ChangeSet], bool] | None = None,
    ) -> StackResult:
        """Create or update `name` through a change set; an empty change set means up to date.

        `body=None` keeps the deployed template (UsePreviousTemplate) and `create=False` only changes a stack
        that exists (the outcome is "absent" otherwise). When another deployment is changing the stack, this
        waits for it and computes a new change set from the stack as that deployment left it, so two
        deployments never run at once and neither undoes the other's parameters. `review` sees each change
        set before it runs and may decline it (then it is deleted, nothing changes).
        """
        started = time.monotonic()
        for _ in range(BUSY_ATTEMPTS):
            existing = self._settle_before_deploy(name, recreate=create)
            if existing is None and not create:
                return StackResult(name, Outcome.ABSENT, time.monotonic() - started)
            values = parameters(existing) if callable(parameters) else parameters
            try:
                return self._deploy_once(
                    name, existing, body, values, tags, bucket, role_arn, started, review
                )
            except StackBusy as busy:
                self.progress.line(f"{name}: {busy}: waiting for it, then computing a new change set")
                time.sleep(self.poll_seconds)
        raise LifecycleError(
            f"stack {name} was changed by other deployments {BUSY_ATTEMPTS} times in a row: "
            "deploy again when they are done"
        )

    def _deploy_once(
        self,
        name: str,
        existing: dict[str, Any] | None,
        body: str | None,
        values: ParameterValues,
        tags: dict[str, str],
        bucket: str | None,
        role_arn: str | None,
        started: float,
        review: Callable[[ChangeSet], bool] | None,
    ) -> StackResult:
        if existing and self.unchanged(existing, body, values, tags):
            return StackResult(name, Outcome.UP_TO_DATE, time.monotonic() - started, stack_outputs(existing))
        if body is None and existing is None:
            raise LifecycleError(f"stack {name} does not exist: there is no deployed template to reuse")
        change_set = ChangeSet(name, "UPDATE" if existing else "CREATE")
        try:
            if not self.create_change_set(change_set, body, values, tags, bucket, started, role_arn):
                return StackResult(name, Outcome.UP_TO_DATE, time.monotonic() - started, self.outputs(name))
            if review and not review(change_set):
                self.discard(change_set)
                seconds = time.monotonic() - started
                return StackResult(name, Outcome.NOT_CONFIRMED, seconds, self.outputs(name))
        except BaseException:
            self.discard(change_set)
            raise
        stack_id = change_set.stack_id
        seen = self._seen_events(stack_id)
        resources = {c["LogicalResourceId"]: c["ResourceType"] for c in change_set.changes}
        try:
            # With the stack named, a change set deleted meanwhile is ChangeSetNotFound, authorized on the
            # stack, rather than an access denied on a resource that cannot be found.
            self.cfn.execute_change_set(ChangeSetName=change_set.id, StackName=change_set.stack_id)
        except ClientError as exc:
            # Executing a change set deletes the stack's other change sets (ExecuteChangeSet, AWS
            # CloudFormation API reference): one that is gone was computed before another deployment ran.
            if is_busy(exc) or _absent(exc):
                # The stack (even one this change set created) is the other deployment's now: only the
                # obsolete change set goes.
                self.discard(change_set, keep_stack=True)
                raise StackBusy("another deployment changed it since this change set was computed") from None
            raise
        verb = "creating" if change_set.creates else "updating"
        self.progress.line(f"{name}: {verb} ({len(resources)} resource change(s))")
        table = EventTable(name, datetime.now(UTC), resources)
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
        outcome = Outcome.CREATED if change_set.creates else Outcome.UPDATED
        return StackResult(name, outcome, time.monotonic() - started, stack_outputs(stack), table.summary())

    # Change sets

    def create_change_set(
        self,
        change_set: ChangeSet,
        body: str | None,
        values: ParameterValues,
        tags: dict[str, str],
        bucket: str | None,
        started: float,
        role_arn: str | None = None,
    ) -> bool:
        """Create `change_set` and wait until CloudFormation has computed it; False when it changes nothing
        (the empty change set is deleted then)."""
        return self.start_change_set(
            change_set, body, values, tags, bucket, role_arn
        ) and self.finish_change_set(change_set, started)

    def start_change_set(
        self,
        change_set: ChangeSet,
        body: str | None,
        values: ParameterValues,
        tags: dict[str, str],
        bucket: str | None,
        role_arn: str | None = None,
    ) -> bool:
        """Ask CloudFormation for the change set (computed in the background); False when it says at once
        that nothing changes. `body=None` keeps the deployed template; a value of None, the parameter's
        current value. StackBusy when another deployment is changing the stack."""
        template = (
            {"UsePreviousTemplate": True}
            if body is None
            else self._template_argument(change_set.stack, body, bucket)
        )
        try:
            created = self.cfn.create_change_set(
                StackName=change_set.stack,
                ChangeSetName=change_set.name,
                ChangeSetType=change_set.change_type,
                Parameters=change_set_parameters(values),
                Capabilities=CAPABILITIES,
                **({"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]} if tags else {}),
                **({"RoleARN": role_arn} if role_arn else {}),
                **template,
            )
        except ClientError as exc:
            # Refused: nothing was made, so there is nothing to delete (and an empty stack under this name,
            # if any, belongs to another deployment).
            change_set.discarded = True
            # AWS reports "no changes" as a FAILED change set (below); some emulators refuse to create one.
            if any(marker in str(exc) for marker in NO_CHANGE_REASONS):
                return False
            if is_busy(exc):
                raise StackBusy("another deployment is changing it") from None
            raise
        change_set.id, change_set.stack_id = created["Id"], created["StackId"]
        return True

    def finish_change_set(self, change_set: ChangeSet, started: float) -> bool:
        """Wait for a started change set and read all its changes; False when it changes nothing."""
        described = self._wait_change_set(change_set, started)
        if described["Status"] == "FAILED":
            reason = " ".join(str(described.get("StatusReason", "")).split())
            self.discard(change_set)
            if any(marker in reason for marker in NO_CHANGE_REASONS):
                return False
            raise LifecycleError(f"stack {change_set.stack}: the change set failed: {reason}")
        changes = described.get("Changes", [])
        token = described.get("NextToken")
        while token:
            page = self.cfn.describe_change_set(
                ChangeSetName=change_set.id, StackName=change_set.stack_id, NextToken=token
            )
            changes += page.get("Changes", [])
            token = page.get("NextToken")
        change_set.changes = [c["ResourceChange"] for c in changes if c.get("Type") == "Resource"]
        return True

    def discard(self, change_set: ChangeSet, keep_stack: bool = False) -> None:
        """Delete the change set, and (unless `keep_stack`) the empty REVIEW_IN_PROGRESS stack a CREATE change
        set made; safe whatever happened before (also after an interruption in the middle of creating it)."""
        if change_set.discarded:
            return
        try:
            self.cfn.delete_change_set(ChangeSetName=change_set.name, StackName=change_set.stack)
        except ClientError as exc:
            if not _absent(exc):
                raise
        if change_set.creates and not keep_stack:
            stack = self.describe(change_set.stack)
            if stack and stack["StackStatus"] == "REVIEW_IN_PROGRESS":
                self.cfn.delete_stack(StackName=stack["StackId"])
        change_set.discarded = True

    def unchanged(
        self, stack: dict[str, Any], body: str | None, values: ParameterValues, tags: dict[str, str]
    ) -> bool:
        """Same template, parameter values and tags as deployed: no change set needed.

        CloudFormation takes seconds per stack to compute even an empty change set, so an unchanged redeploy
        skips it. Only JSON templates are compared; anything else goes through a change set. A value of None
        (keep the current one) and an omitted body (keep the template) match by definition.
        """
        deployed_values = stack_parameters(stack)
        declared: dict[str, Any]
        if body is None:
            declared = dict.fromkeys(deployed_values, {})
        else:
            try:
                wanted = json.loads(body)
            except ValueError:
                return False
            deployed = self.cfn.get_template(StackName=stack["StackId"], TemplateStage="Original")[
                "TemplateBody"
            ]
            if isinstance(deployed, str):
                try:
                    deployed = json.loads(deployed)
                except ValueError:
                    return False
            if deployed != wanted:
                return False
            declared = wanted.get("Parameters", {})
        expected = {}
        for key, spec in declared.items():
            value = values.get(key, spec.get("Default", deployed_values.get(key, "")))
            expected[key] = deployed_values.get(key, "") if value is None else str(value)
        current_tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
        return expected == deployed_values and (not tags or current_tags == tags)

    def _wait_change_set(self, change_set: ChangeSet, started: float) -> dict[str, Any]:
        while True:
            try:
                described = self.cfn.describe_change_set(
                    ChangeSetName=change_set.id, StackName=change_set.stack_id
                )
            except ClientError as exc:
                if _absent(exc):  # deleted because another deployment's change set ran meanwhile
                    raise StackBusy(
                        "another deployment changed it while this change set was computed"
                    ) from None
                raise
            if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
                self.progress.done()
                return described
            self.progress.status(f"{change_set.stack}: computing the change set", started)
            time.sleep(min(1.0, self.poll_seconds))

    # Delete

    def delete(self, name: str) -> StackResult:
        """Delete `name` whatever its state; a DELETE_FAILED is retried once, then the blockers are named."""
        started = time.monotonic()
        stack = self.describe(name)
        if stack is None:
            return StackResult(name, Outcome.ABSENT, 0.0)
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
                return StackResult(name, Outcome.DELETED, time.monotonic() - started)
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
