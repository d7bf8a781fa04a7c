"""`invoke diff` (and `invoke deploy --confirm`): what a deploy would change, from CloudFormation change sets
that are described and never executed, then deleted (also when interrupted).

Calls: cloudformation:DescribeStacks, GetTemplate, CreateChangeSet, DescribeChangeSet, DeleteChangeSet and,
for a stack that does not exist yet, DeleteStack of the empty stack its CREATE change set made; plus
s3:PutObject to the artifact bucket for a template over CloudFormation's inline size limit (as deploy).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lifecycle.aws import Aws
from lifecycle.deploy import StackPlan, stack_plans, stack_role
from lifecycle.errors import LifecycleError
from lifecycle.progress import Progress
from lifecycle.stacks import (
    RECREATE_STATUSES,
    ChangeSet,
    StackBusy,
    Stacks,
    change_set_name,
    is_waiting_status,
)
from troposphere_templates.config import ProjectConfig

ACTIONS = ("Add", "Modify", "Remove", "Import", "Dynamic")
# Resource types and properties through which a change grants or withdraws access.
IAM_TYPE_PREFIXES = ("AWS::IAM::",)
IAM_TYPES = {
    "AWS::Lambda::Permission",
    "AWS::S3::BucketPolicy",
    "AWS::SecretsManager::ResourcePolicy",
    "AWS::KMS::Key",
}
IAM_PROPERTY_WORDS = ("Policy", "Policies", "RoleArn", "Role", "Principal")
SECURITY_GROUP_TYPE_PREFIX = "AWS::EC2::SecurityGroup"
SECURITY_GROUP_PROPERTY_WORDS = ("SecurityGroup",)
REPLACEMENT_WORDS = {"True": "REPLACE", "Conditional": "may replace", "False": ""}


@dataclass
class ResourceChange:
    action: str  # Add, Modify, Remove (CloudFormation's)
    logical_id: str
    resource_type: str
    replacement: str = ""  # True, False, Conditional (Modify only)
    properties: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)  # the parameters or resources that cause the change

    @property
    def iam(self) -> bool:
        return (
            self.resource_type.startswith(IAM_TYPE_PREFIXES)
            or self.resource_type in IAM_TYPES
            or any(word in name for name in self.properties for word in IAM_PROPERTY_WORDS)
        )

    @property
    def security_group(self) -> bool:
        return self.resource_type.startswith(SECURITY_GROUP_TYPE_PREFIX) or any(
            word in name for name in self.properties for word in SECURITY_GROUP_PROPERTY_WORDS
        )


@dataclass
class StackDiff:
    stack: str
    kind: str  # create, update, recreate, unchanged, absent (no stack, and deploy would create none)
    changes: list[ResourceChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.kind not in ("unchanged", "absent")


def resource_change(entry: dict[str, Any]) -> ResourceChange:
    """One ResourceChange of DescribeChangeSet, reduced to what a person reads."""
    details = entry.get("Details", [])
    properties = sorted(
        {d["Target"]["Name"] for d in details if d.get("Target", {}).get("Attribute") == "Properties"}
    )
    properties += sorted(
        {
            d["Target"]["Attribute"]
            for d in details
            if d.get("Target", {}).get("Attribute") not in (None, "Properties")
        }
    )
    return ResourceChange(
        action=entry.get("Action", ""),
        logical_id=entry.get("LogicalResourceId", ""),
        resource_type=entry.get("ResourceType", ""),
        replacement=entry.get("Replacement", "") if entry.get("Action") == "Modify" else "",
        properties=properties,
        causes=sorted({d["CausingEntity"] for d in details if d.get("CausingEntity")}),
    )


def template_resources(body: str) -> list[ResourceChange]:
    """Every resource of a template as an Add: what creating the stack afresh does."""
    resources = json.loads(body).get("Resources", {})
    return [ResourceChange("Add", logical_id, spec["Type"]) for logical_id, spec in sorted(resources.items())]


def stack_diffs(
    aws: Aws,
    plans: list[StackPlan],
    bucket: str | None,
    progress: Progress,
    poll_seconds: float = 1.0,
    roles: Callable[[Stacks, StackPlan], str | None] = lambda stacks, plan: None,
) -> list[StackDiff]:
    """Describe what deploying `plans` would change, stack by stack, leaving nothing behind.

    The change sets are made as deploy makes them: the same parameter values computed from each stack as it
    is (None keeps a value), the same template argument and the role `roles` names. Every change set is
    created first (CloudFormation computes them side by side), then described; the `finally` deletes each
    one, so neither an error nor Ctrl+C leaves a change set or an empty stack.
    """
    stacks = Stacks(aws, progress, poll_seconds=poll_seconds)
    started = time.monotonic()
    diffs: dict[str, StackDiff] = {}
    pending: list[ChangeSet] = []
    try:
        for plan in plans:
            existing = stacks.describe(plan.name)
            if existing and is_waiting_status(existing["StackStatus"]):
                raise LifecycleError(_busy(plan.name, existing["StackStatus"]))
            if existing and (
                existing["StackStatus"] in RECREATE_STATUSES
                or existing["StackStatus"] == "REVIEW_IN_PROGRESS"
            ):
                # deploy deletes such a stack and creates it again (or, only changing a stack that exists,
                # leaves it alone): everything would be added.
                kind = "recreate" if plan.create else "absent"
                diffs[plan.name] = StackDiff(
                    plan.name, kind, template_resources(plan.body) if plan.create else []
                )
                continue
            if existing is None and not plan.create:
                diffs[plan.name] = StackDiff(plan.name, "absent")
                continue
            values = plan.parameters(existing) if callable(plan.parameters) else plan.parameters
            if existing and stacks.unchanged(existing, plan.body, values, plan.tags):
                diffs[plan.name] = StackDiff(plan.name, "unchanged")
                continue
            change_set = ChangeSet(plan.name, "UPDATE" if existing else "CREATE", change_set_name("diff"))
            pending.append(change_set)
            try:
                started_now = stacks.start_change_set(
                    change_set, plan.body, values, plan.tags, bucket, roles(stacks, plan)
                )
            except StackBusy:
                raise LifecycleError(_busy(plan.name, "being changed by another deployment")) from None
            if not started_now:
                diffs[plan.name] = StackDiff(plan.name, "unchanged")
        for change_set in pending:
            if change_set.stack in diffs:  # the emulator said at once: no changes
                continue
            if not stacks.finish_change_set(change_set, started):
                diffs[change_set.stack] = StackDiff(change_set.stack, "unchanged")
                continue
            kind = "create" if change_set.creates else "update"
            changes = [resource_change(entry) for entry in change_set.changes]
            diffs[change_set.stack] = StackDiff(change_set.stack, kind, changes)
    finally:
        for change_set in pending:
            stacks.discard(change_set)
    return [diffs[plan.name] for plan in plans]


def _busy(stack: str, state: str) -> str:
    return f"stack {stack} is {state}: diff again once it has settled"


def diff(
    config: ProjectConfig,
    aws: Aws,
    templates_dir: Path,
    stack: str = "all",
    keep_images: bool = False,
    explicit_image_tag: bool = True,
    progress: Progress | None = None,
) -> list[StackDiff]:
    """What `invoke deploy` with the same options would change (it creates nothing, not even the bucket)."""
    progress = progress or Progress()
    plans = stack_plans(config, templates_dir, stack, keep_images, explicit_image_tag, progress)
    bucket = config.artifact_bucket_name(aws.account_id)
    return stack_diffs(
        aws, plans, bucket, progress, roles=lambda stacks, plan: stack_role(config, stacks, plan)
    )


def format_change(change: ResourceChange, id_width: int, type_width: int) -> str:
    flags = [REPLACEMENT_WORDS.get(change.replacement, change.replacement)]
    flags += ["IAM" if change.iam else "", "security group" if change.security_group else ""]
    what = ", ".join(change.properties)
    if change.causes:
        what += f" (from {', '.join(change.causes)})"
    parts = [
        f"{change.action:<7}",
        f"{change.logical_id:<{id_width}}",
        f"{change.resource_type:<{type_width}}",
        f"{' '.join(f for f in flags if f):<11}",
        what,
    ]
    return "  " + "  ".join(parts).rstrip()


def render_stack(diff_: StackDiff) -> list[str]:
    if diff_.kind == "absent":
        return [f"{diff_.stack}: does not exist, and --keep-images creates no stack"]
    if not diff_.changed:
        return [f"{diff_.stack}: no changes"]
    headline = {
        "create": "would be created",
        "update": "would be updated",
        "recreate": "would be deleted (its last create failed) and created again",
    }[diff_.kind]
    changes = sorted(
        diff_.changes, key=lambda c: (ACTIONS.index(c.action) if c.action in ACTIONS else 9, c.logical_id)
    )
    id_width = max([len(c.logical_id) for c in changes] + [8])
    type_width = max([len(c.resource_type) for c in changes] + [8])
    if not changes:
        return [f"{diff_.stack}: {headline}: its parameters or tags only, no resource changes"]
    lines = [f"{diff_.stack}: {headline}, {len(changes)} resource change(s)"]
    lines += [format_change(change, id_width, type_width) for change in changes]
    for label, picked in (
        ("IAM", [c for c in changes if c.iam]),
        ("security-group", [c for c in changes if c.security_group]),
    ):
        if picked:
            named = ", ".join(f"{c.action} {c.logical_id}" for c in picked)
            lines.append(f"  ! {label} changes: {named}")
    return lines


def render(diffs: list[StackDiff]) -> str:
    """Each stack's changes, then one closing line."""
    lines = [line for diff_ in diffs for line in render_stack(diff_)]
    changed = [d for d in diffs if d.changed]
    replaced = sum(1 for d in changed for c in d.changes if c.replacement == "True")
    if not changed:
        lines.append(f"no changes: {len(diffs)} stack(s) up to date")
    else:
        count = sum(len(d.changes) for d in changed)
        lines.append(
            f"{len(changed)} of {len(diffs)} stack(s) would change: {count} resource change(s), "
            f"{replaced} replacement(s); nothing was changed (`invoke deploy` applies it)"
        )
    return "\n".join(lines)


def confirm_each(stdin: TextIO, stdout: TextIO) -> Callable[[ChangeSet], bool]:
    """`deploy --confirm`: show each stack's change set as `invoke diff` does and ask before it runs."""
    if not stdin.isatty():
        raise LifecycleError(
            "--confirm needs a terminal to ask on: review with `invoke diff`, then deploy without --confirm"
        )

    def review(change_set: ChangeSet) -> bool:
        kind = "create" if change_set.creates else "update"
        shown = StackDiff(change_set.stack, kind, [resource_change(entry) for entry in change_set.changes])
        stdout.write("\n".join(render_stack(shown)) + f"\nDeploy these changes to {change_set.stack}? [y/N] ")
        stdout.flush()
        return stdin.readline().strip().lower() in ("y", "yes")

    return review
