"""What CloudFormation tells about a change set and moto does not: which property changes, why, and whether it
replaces the resource; and that executing a change set removes the stack's other change sets.

moto lists a changed resource with its action and type only. CloudFormation adds, per `ResourceChange`,
`Replacement` (True / False / Conditional), `Scope` and one `Details` entry per changed property with its
`RequiresRecreation` (Always / Never / Conditional), `ChangeSource` (DirectModification, ParameterReference,
ResourceReference) and `Evaluation` (Static, or Dynamic when it depends on a resource being replaced), and
it lists as Modify a resource that references a replaced one. Whether a property change replaces the
resource comes from AWS's own resource provider schemas (their `createOnlyProperties`), which cfn-lint ships.
Source: AWS CloudFormation API reference, ResourceChange and ResourceChangeDetail; "Execute a change set":
after execution CloudFormation deletes the stack's other change sets (they no longer apply).
"""

from __future__ import annotations

import json
import re
import threading
from functools import cache
from typing import Any

from local_aws.moto_adapter import (
    Change,
    ChangeSet,
    CloudFormationBackend,
    set_undeclared,
)
from local_aws.stacks import dependencies

_SUB_REFERENCE = re.compile(r"\$\{([^!}][^}.]*)")
SCHEMA_REGION = "us-east-1"
# cfnlint imports its schema modules on first use; two server threads doing that at once can deadlock on
# Python's module locks (_DeadlockError on cfnlint.data.schemas, seen with three pipelines deploying at once).
_schemas = threading.Lock()


@cache
def create_only_properties(resource_type: str) -> frozenset[str]:
    """Top-level properties whose change replaces a resource of this type (empty for an unknown type)."""
    with _schemas:
        from cfnlint.schema import PROVIDER_SCHEMA_MANAGER, ResourceNotFoundError

        try:
            schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, resource_type).schema
        except ResourceNotFoundError:
            return frozenset()
    return frozenset(
        path.split("/")[2]
        for path in schema.get("createOnlyProperties", [])
        if path.startswith("/properties/")
    )


def _parameters_used(value: Any) -> set[str]:
    """Names used by Ref and by ${...} in Fn::Sub anywhere inside `value`."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::Sub":
                template = inner[0] if isinstance(inner, list) else inner
                found.update(_SUB_REFERENCE.findall(template))
            found |= _parameters_used(inner)
    elif isinstance(value, list):
        for item in value:
            found |= _parameters_used(item)
    return found


def _detail(name: str, resource_type: str, source: str, evaluation: str = "Static", cause: str = "") -> dict:
    replaces = name in create_only_properties(resource_type)
    requires = ("Conditional" if evaluation == "Dynamic" else "Always") if replaces else "Never"
    detail: dict[str, Any] = {
        "Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": requires},
        "Evaluation": evaluation,
        "ChangeSource": source,
    }
    if cause:
        detail["CausingEntity"] = cause
    return detail


def _modify_details(old: dict, new: dict, changed_parameters: set[str]) -> list[dict]:
    old_props, new_props = old.get("Properties", {}), new.get("Properties", {})
    details = []
    for name in sorted(set(old_props) | set(new_props)):
        if json.dumps(old_props.get(name), sort_keys=True) != json.dumps(new_props.get(name), sort_keys=True):
            details.append(_detail(name, new["Type"], "DirectModification"))
            continue
        for parameter in sorted(_parameters_used(new_props.get(name)) & changed_parameters):
            details.append(_detail(name, new["Type"], "ParameterReference", cause=parameter))
    return details


def _replacement(details: list[dict]) -> str:
    recreation = {detail["Target"]["RequiresRecreation"] for detail in details}
    if "Always" in recreation:
        return "True"
    return "Conditional" if "Conditional" in recreation else "False"


def _annotate(change: Change, physical_id: str, details: list[dict], scope: list[str]) -> Change:
    set_undeclared(change, physical_resource_id=physical_id or None, scope=scope, details=details)
    if change.action == "Modify":
        set_undeclared(change, replacement=_replacement(details))
    return change


# What these functions wrap: `local_aws.stacks`' versions, captured by install() (which runs after it).
_wrapped: dict[str, Any] = {}


def change_set_diff(self: ChangeSet) -> list[Change]:
    changes = _wrapped["diff"](self)
    resources_map = self.stack.resource_map
    old_resources = resources_map._resource_json_map
    new_resources = self.template_dict.get("Resources", {})
    parsed = resources_map._parsed_resources
    old_parameters = resources_map.input_parameters or {}
    changed_parameters = {
        key for key, value in (self.parameters or {}).items() if old_parameters.get(key) != value
    }
    replaced = set()
    for change in changes:
        physical_id = str(getattr(parsed.get(change.logical_resource_id), "physical_resource_id", "") or "")
        if change.action != "Modify":
            _annotate(change, physical_id, [], [])
            continue
        old, new = old_resources[change.logical_resource_id], new_resources[change.logical_resource_id]
        details = _modify_details(old, new, changed_parameters)
        scope = ["Properties"] if details else []
        if old.get("Metadata") != new.get("Metadata"):
            scope.append("Metadata")
        _annotate(change, physical_id, details, scope)
        if change.replacement == "True":
            replaced.add(change.logical_resource_id)
    listed = {change.logical_resource_id for change in changes}
    # moto finds a changed parameter only through Ref, not through ${...} inside Fn::Sub.
    for logical_id, resource in new_resources.items():
        if logical_id in listed or logical_id not in old_resources:
            continue
        details = _modify_details(old_resources[logical_id], resource, changed_parameters)
        if details:
            physical_id = str(getattr(parsed.get(logical_id), "physical_resource_id", "") or "")
            change = _annotate(
                Change("Modify", logical_id, resource["Type"]), physical_id, details, ["Properties"]
            )
            changes.append(change)
            listed.add(logical_id)
            if _replacement(details) == "True":  # the replacement _annotate just gave this Modify
                replaced.add(logical_id)
    # A resource referencing a replaced one gets a new value for that reference once the replacement exists
    # (one level, enough for the templates here: a service on its task definition).
    by_id = {change.logical_resource_id: change for change in changes}
    for logical_id, resource in new_resources.items():
        causes = dependencies(resource) & replaced - {logical_id}
        if logical_id not in old_resources or not causes:
            continue
        details = [
            _detail(name, resource["Type"], "ResourceReference", "Dynamic", cause)
            for name, value in sorted(resource.get("Properties", {}).items())
            for cause in sorted(dependencies({"Properties": {name: value}}) & causes)
        ]
        if logical_id in by_id:
            change = by_id[logical_id]
            _annotate(
                change,
                change.physical_resource_id or "",
                change.details + details,
                change.scope or ["Properties"],
            )
        else:
            physical_id = str(getattr(parsed.get(logical_id), "physical_resource_id", "") or "")
            changes.append(
                _annotate(
                    Change("Modify", logical_id, resource["Type"]), physical_id, details, ["Properties"]
                )
            )
    return changes


def backend_execute_change_set(
    self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None
) -> None:
    _wrapped["execute"](self, change_set_name, stack_name)
    executed = self.change_sets.get(change_set_name) or next(
        cs for cs in self.change_sets.values() if change_set_name in (cs.change_set_name, cs.change_set_id)
    )
    # The ones this execution found (now OBSOLETE, or older): a change set computed after it ended is
    # AVAILABLE and valid, as it would be on AWS, which deletes them when the execution starts.
    for change_set_id, change_set in list(self.change_sets.items()):
        if (
            change_set.stack_id == executed.stack_id
            and change_set is not executed
            and change_set.execution_status != "AVAILABLE"
        ):
            del self.change_sets[change_set_id]


def install() -> None:
    """Apply after `local_aws.stacks.install()`, whose diff and execution these wrap (idempotent)."""
    if _wrapped:
        return
    _wrapped["diff"] = ChangeSet.diff
    _wrapped["execute"] = CloudFormationBackend.execute_change_set
    ChangeSet.diff = change_set_diff  # type: ignore[method-assign]
    CloudFormationBackend.execute_change_set = backend_execute_change_set  # type: ignore[method-assign]
