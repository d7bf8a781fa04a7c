"""A small patch of moto's CloudFormation stack engine so that failures look like AWS's.

moto applies a template in one synchronous pass and, when a resource fails, lets the exception escape as an
HTTP error: a stack never reaches ROLLBACK_COMPLETE, DELETE_FAILED or UPDATE_ROLLBACK_COMPLETE, no resource
events are recorded, and a half-deleted stack is forgotten. `install()` replaces the few moto functions that
decide this (create, change-set execution, update, delete) with versions that keep moto's own resource
creation, update and deletion calls but:

- record per-resource events (CREATE_IN_PROGRESS/COMPLETE/FAILED, UPDATE_*, DELETE_*, DELETE_SKIPPED) with the
  failure reason, in the order AWS emits them (a resource's dependencies first);
- roll a failed create back (delete what was created) to ROLLBACK_COMPLETE, a failed update back to the
  previous template to UPDATE_ROLLBACK_COMPLETE, and leave a failed delete in DELETE_FAILED with the stack
  kept, so that a retried delete with RetainResources can finish it;
- update a resource when its *resolved* properties change (a new task-definition revision updates the service
  that references it, a changed parameter updates what uses it), replacing it when its type has no update;
- refuse operations AWS refuses (updating a ROLLBACK_COMPLETE stack, creating a stack that exists) and answer
  "didn't contain changes" on a change set instead of raising "No updates are to be performed".
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable
from typing import Any

from local_aws._base import ReplacementRequired
from local_aws.moto_adapter import (
    ActionResult,
    AlreadyExistsException,
    Change,
    ChangeSet,
    CloudFormationBackend,
    CloudFormationError,
    EmptyResult,
    Event,
    Stack,
    ValidationError,
    add_stack_event,
    cfn_responses,
    cloudformation_backends,
    generate_stack_id,
    keep,
    kept,
    new_resource_map,
    new_stack,
    original,
    parse_template,
    parsed_resources,
    parsing,
    patch,
    rebuild_outputs,
    resource_map_location,
    resource_templates,
    set_resource_templates,
    set_template,
)

# While set and closed, an executed change set keeps its stack *_IN_PROGRESS until the gate opens, before moto
# applies it in one pass: tests hold an operation (`hold_operations`) so that other deployments meet it in
# progress, as they do on AWS, where an update takes minutes.
_gate: threading.Event | None = None
_executing = threading.Lock()
# Per stack name, how many change sets have started to execute on it: a change set whose template and previous
# parameter values were read before another one started is OBSOLETE, as on AWS ("OBSOLETE state because the
# stack was already updated": CloudFormation API reference, ChangeSetSummary.ExecutionStatus). moto reads them
# in the response layer, before the backend creates the change set, so an execution can start and even end
# in between; `_read_at` carries the count from the one to the other within a request.
_executions: dict[str, int] = {}
_read_at = threading.local()
GATE_TIMEOUT_SECONDS = 300
_REPLACING = "Requested update requires the creation of a new physical resource; hence creating one."
UPDATABLE_STATES = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
_SUB_REFERENCE = re.compile(r"\$\{([^!}][^}.]*)")

_original_parse_and_create = original(parsing, "parse_and_create_resource")
_original_delete_resource = original(parsing.ResourceMap, "_delete_resource")
_original_create_change_set_response = original(cfn_responses.CloudFormationResponse, "create_change_set")


class InvalidChangeSetStatus(CloudFormationError):
    """ExecuteChangeSet's answer when the stack is busy or changed since the change set was computed."""

    code = "InvalidChangeSetStatus"


def hold_operations(gate: threading.Event | None) -> None:
    """Keep each executed change set's stack in progress until `gate` is set (None: apply at once)."""
    global _gate
    _gate = gate


class ResourceFailed(Exception):
    """One resource failed; its FAILED event is already recorded."""

    def __init__(self, logical_id: str, reason: str):
        super().__init__(f"{logical_id}: {reason}")
        self.logical_id = logical_id
        self.reason = reason


def _reason(exc: BaseException) -> str:
    """One line, worded like CloudFormation's resource status reasons."""
    if isinstance(exc, ResourceFailed):
        return exc.reason
    if isinstance(exc, KeyError):
        # The emulations read required properties as props["Name"]: a missing one is a template error.
        return f"Properties validation failed: required key [{exc.args[0]}] not found"
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    code = getattr(exc, "error_type", None) or getattr(exc, "code", None)
    text = f"{message} (Error: {code})" if isinstance(code, str) and code else str(message)
    return " ".join(text.split())


# --- template helpers -------------------------------------------------------------------------------------


def dependencies(resource_json: dict[str, Any]) -> set[str]:
    """Logical ids a resource depends on: DependsOn, Ref, Fn::GetAtt and ${...} inside Fn::Sub."""
    found: set[str] = set()
    depends_on = resource_json.get("DependsOn", [])
    found.update([depends_on] if isinstance(depends_on, str) else depends_on)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "Ref" and isinstance(value, str):
                    found.add(value)
                elif key == "Fn::GetAtt":
                    found.add(value.split(".")[0] if isinstance(value, str) else value[0])
                elif key == "Fn::Sub":
                    template = value[0] if isinstance(value, list) else value
                    found.update(_SUB_REFERENCE.findall(template))
                    walk(value[1] if isinstance(value, list) else None)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({key: value for key, value in resource_json.items() if key != "DependsOn"})
    return found


def dependency_order(resources: dict[str, Any]) -> list[str]:
    """Logical ids with every resource after the resources it depends on (template order otherwise)."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(logical_id: str) -> None:
        if logical_id in ordered or logical_id in visiting:
            return
        visiting.add(logical_id)
        for dependency in sorted(dependencies(resources[logical_id])):
            if dependency in resources:
                visit(dependency)
        visiting.discard(logical_id)
        ordered.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return ordered


# --- events ----------------------------------------------------------------------------------------------


def _stack_of(resources_map: parsing.ResourceMap) -> Stack | None:
    account_id, region_name = resource_map_location(resources_map)
    backend = cloudformation_backends[account_id][region_name]
    return backend.stacks.get(resources_map.stack_id)


def _resource_event(
    stack: Stack | None,
    logical_id: str,
    resource_type: str,
    status: str,
    physical_id: str = "",
    reason: str | None = None,
) -> None:
    if stack is None:
        return
    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical_id,
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


def _physical_id(resource: Any) -> str:
    return str(getattr(resource, "physical_resource_id", "") or "")


def _is_resource(value: Any) -> bool:
    return value is not None and not isinstance(value, str | int | float | list | dict)


# --- resource create / update / delete with events --------------------------------------------------------


def _create_resource(
    logical_id: str,
    resource_json: dict[str, Any],
    resources_map: parsing.ResourceMap,
    account_id: str,
    region_name: str,
) -> Any:
    """Replaces parsing.parse_and_create_resource (which ResourceMap.__getitem__ calls for a resource it has
    not built yet): dependencies first, then this resource between its IN_PROGRESS and COMPLETE/FAILED
    events."""
    condition = resource_json.get("Condition")
    if condition and not resources_map.lazy_condition_map[condition]:
        return None
    resource_type = resource_json["Type"]
    if resource_type in parsing.NULL_MODELS:
        return None
    for dependency in sorted(dependencies(resource_json)):
        if dependency != logical_id and dependency in resource_templates(resources_map):
            resources_map[dependency]
    stack = _stack_of(resources_map)
    _resource_event(stack, logical_id, resource_type, "CREATE_IN_PROGRESS")
    try:
        if parsing.resource_class_from_type(resource_type) is None:
            raise ValueError(f"local_aws does not emulate resource type {resource_type}")
        resource = _original_parse_and_create(
            logical_id, resource_json, resources_map, account_id, region_name
        )
        keep(resource, "properties", parsing.clean_json(resource_json.get("Properties", {}), resources_map))
    except ResourceFailed:
        raise
    except Exception as exc:
        _resource_event(stack, logical_id, resource_type, "CREATE_FAILED", reason=_reason(exc))
        raise ResourceFailed(logical_id, _reason(exc)) from exc
    _resource_event(stack, logical_id, resource_type, "CREATE_COMPLETE", _physical_id(resource))
    return resource


def _refuse_replacing_custom_name(
    resource_class: Any, new: dict[str, Any], old: dict[str, Any] | None
) -> None:
    """CloudFormation cannot replace a resource that keeps the name the template gives it (two resources
    cannot share it for the moment both exist): the update fails, and the stack rolls back."""
    if not getattr(resource_class, "NAME_BLOCKS_REPLACEMENT", False):
        return
    name_property = resource_class.cloudformation_name_type()
    name = new.get(name_property)
    if name and old and old.get(name_property) == name:
        raise ValueError(
            "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
            f"Rename {name} and update the stack again."
        )


def _update_resource(stack: Stack | None, resources_map: parsing.ResourceMap, logical_id: str) -> None:
    resource_json = resource_templates(resources_map)[logical_id]
    resource_type = resource_json["Type"]
    old = parsed_resources(resources_map)[logical_id]
    properties = parsing.clean_json(resource_json.get("Properties", {}), resources_map)
    if properties == kept(old, "properties") and old.cf_resource_type == resource_type:
        return
    resource_class = parsing.resource_class_from_type(resource_type)
    in_place = (
        old.cf_resource_type == resource_type
        and resource_class is not None
        and not hasattr(resource_class.update_from_cloudformation_json, "__isabstractmethod__")
    )
    _resource_event(stack, logical_id, resource_type, "UPDATE_IN_PROGRESS", _physical_id(old))
    account_id, region_name = resource_map_location(resources_map)
    try:
        new = None
        if in_place:
            try:
                new = parsing.parse_and_update_resource(
                    logical_id, resource_json, resources_map, account_id, region_name
                )
            except ReplacementRequired:
                pass
        if new is None:
            if resource_class is None:
                raise ValueError(f"local_aws does not emulate resource type {resource_type}")
            _refuse_replacing_custom_name(resource_class, properties, kept(old, "properties"))
            _resource_event(
                stack, logical_id, resource_type, "UPDATE_IN_PROGRESS", _physical_id(old), _REPLACING
            )
            new = _original_parse_and_create(
                logical_id, resource_json, resources_map, account_id, region_name
            )
            if resource_json.get("UpdateReplacePolicy") != "Retain":
                _original_delete_resource(resources_map, old, {**resource_json, "Type": old.cf_resource_type})
    except Exception as exc:
        _resource_event(stack, logical_id, resource_type, "UPDATE_FAILED", _physical_id(old), _reason(exc))
        raise ResourceFailed(logical_id, _reason(exc)) from exc
    keep(new, "properties", properties)
    parsed_resources(resources_map)[logical_id] = new
    _resource_event(stack, logical_id, resource_type, "UPDATE_COMPLETE", _physical_id(new))


def _delete_resources(
    stack: Stack, resources_json: dict[str, Any], keep: Iterable[str] = (), rolling_back: bool = False
) -> list[str]:
    """Delete the stack's built resources among `resources_json`, dependents first; returns the logical ids
    that could not be deleted (each with a DELETE_FAILED event). Resources in `keep` or with
    DeletionPolicy Retain are left in place (DELETE_SKIPPED)."""
    resources_map = stack.resource_map
    parsed = parsed_resources(resources_map)
    pending = [
        logical_id
        for logical_id in reversed(dependency_order(resources_json))
        if _is_resource(parsed.get(logical_id))
    ]
    retained_policies = {"Retain"} if rolling_back else {"Retain", "RetainExceptOnCreate"}
    errors: dict[str, str] = {}
    started: set[str] = set()
    progress = True
    while pending and progress:
        # A dependency violation (a VPC that still has subnets) clears once its dependents are gone, so keep
        # going round while something was deleted, as moto itself does.
        progress = False
        for logical_id in list(pending):
            resource = parsed[logical_id]
            resource_json = resources_json[logical_id]
            resource_type = resource_json["Type"]
            if logical_id in keep or resource_json.get("DeletionPolicy") in retained_policies:
                _resource_event(stack, logical_id, resource_type, "DELETE_SKIPPED", _physical_id(resource))
                parsed.pop(logical_id)
                pending.remove(logical_id)
                progress = True
                continue
            if logical_id not in started:
                started.add(logical_id)
                _resource_event(
                    stack, logical_id, resource_type, "DELETE_IN_PROGRESS", _physical_id(resource)
                )
            try:
                _original_delete_resource(resources_map, resource, resource_json)
            except Exception as exc:
                errors[logical_id] = _reason(exc)
                continue
            _resource_event(stack, logical_id, resource_type, "DELETE_COMPLETE", _physical_id(resource))
            parsed.pop(logical_id)
            pending.remove(logical_id)
            progress = True
    for logical_id in pending:
        _resource_event(
            stack,
            logical_id,
            resources_json[logical_id]["Type"],
            "DELETE_FAILED",
            _physical_id(parsed[logical_id]),
            errors[logical_id],
        )
    return pending


# --- stack operations --------------------------------------------------------------------------------------


def _finish(stack: Stack, status: str, reason: str | None = None) -> None:
    stack.status = status
    add_stack_event(stack, status, reason)


def _publish_outputs(stack: Stack) -> None:
    """Compute outputs and exports once, while every resource exists (moto computes them lazily, which would
    rebuild deleted resources when a rolled-back stack is described)."""
    rebuild_outputs(stack)
    outputs: list[dict[str, Any]] = [
        {"OutputKey": o.key, "OutputValue": o.value, "Description": o.description}
        for o in (stack.output_map[key] for key in stack.output_map.outputs)
        if o
    ]
    exports = stack.output_map.exports
    for output in outputs:
        output["ExportName"] = next((e.name for e in exports if e.value == output["OutputValue"]), None)
    keep(stack, "outputs", outputs or None)
    backend = cloudformation_backends[stack.account_id][stack.region_name]
    for name, export in list(backend.exports.items()):
        if export.exporting_stack_id == stack.stack_id:
            del backend.exports[name]
    for export in exports:
        if export.name in backend.exports:
            raise ValueError(f"Export with name {export.name} is already exported by another stack")
        backend.exports[export.name] = export


def _create(stack: Stack) -> None:
    """Create every resource; on failure roll back to ROLLBACK_COMPLETE (or ROLLBACK_FAILED)."""
    stack.status = "CREATE_IN_PROGRESS"
    stack.description = stack.template_dict.get("Description")
    try:
        all_ready = stack.resource_map.create(stack.template_dict)
        if not all_ready:
            # A Lambda-backed custom resource answers later; moto's verify_readiness() completes the stack.
            return
        _publish_outputs(stack)
    except Exception as exc:
        failed = exc.logical_id if isinstance(exc, ResourceFailed) else None
        reason = (
            f"The following resource(s) failed to create: [{failed}]. Rollback requested by user."
            if failed
            else _reason(exc)
        )
        _finish(stack, "ROLLBACK_IN_PROGRESS", reason)
        blocked = _delete_resources(stack, resource_templates(stack.resource_map), rolling_back=True)
        if blocked:
            _finish(
                stack,
                "ROLLBACK_FAILED",
                f"The following resource(s) failed to delete: [{', '.join(blocked)}]. ",
            )
        else:
            _finish(stack, "ROLLBACK_COMPLETE")
        return
    _finish(stack, "CREATE_COMPLETE")


def _apply(stack: Stack, template: dict[str, Any], parameters: dict[str, Any] | None) -> None:
    """Bring the stack's resources to `template`: create the new, update the changed (by resolved
    properties), then delete the removed (AWS's cleanup phase)."""
    resources_map = stack.resource_map
    old_resources = resource_templates(resources_map)
    new_resources = template.get("Resources", {})
    set_template(resources_map, template)
    if parameters is not None:
        resources_map.input_parameters = parameters
    resources_map.resolved_parameters = {}
    resources_map.load_mapping()
    resources_map.load_parameters()
    resources_map.load_conditions()
    set_resource_templates(resources_map, new_resources)
    parsed = parsed_resources(resources_map)
    for logical_id in dependency_order(new_resources):
        condition = new_resources[logical_id].get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            continue
        if _is_resource(parsed.get(logical_id)):
            _update_resource(stack, resources_map, logical_id)
        else:
            resources_map[logical_id]
    removed = {
        logical_id: old_resources.get(logical_id) or new_resources[logical_id]
        for logical_id in set(old_resources) | set(new_resources)
        if _is_resource(parsed.get(logical_id))
        and (
            logical_id not in new_resources
            or (
                new_resources[logical_id].get("Condition")
                and not resources_map.lazy_condition_map[new_resources[logical_id]["Condition"]]
            )
        )
    }
    if removed:
        add_stack_event(stack, f"{stack.status.split('_IN_PROGRESS')[0]}_COMPLETE_CLEANUP_IN_PROGRESS")
        _delete_resources(stack, removed)


def _update(stack: Stack, template_body: str, parameters: dict[str, Any] | None) -> bool:
    """Update to a new template; on failure roll back to the previous one. True when the update held."""
    previous_body, previous_template = stack.template, copy.deepcopy(stack.template_dict)
    previous_parameters = dict(stack.resource_map.input_parameters)
    stack.status = "UPDATE_IN_PROGRESS"
    try:
        _apply(stack, Stack.parse_template(template_body), parameters)
        stack.template = template_body
        parse_template(stack)
        _publish_outputs(stack)
    except Exception as exc:
        stack.template, stack.template_dict = previous_body, previous_template
        failed = exc.logical_id if isinstance(exc, ResourceFailed) else None
        verb = "create" if failed and failed not in previous_template.get("Resources", {}) else "update"
        _finish(
            stack,
            "UPDATE_ROLLBACK_IN_PROGRESS",
            f"The following resource(s) failed to {verb}: [{failed}]. " if failed else _reason(exc),
        )
        try:
            _apply(stack, previous_template, previous_parameters)
            _publish_outputs(stack)
        except Exception as rollback_exc:
            _finish(stack, "UPDATE_ROLLBACK_FAILED", _reason(rollback_exc))
            return False
        _finish(stack, "UPDATE_ROLLBACK_COMPLETE")
        return False
    stack.description = stack.template_dict.get("Description")
    if parameters is not None:
        stack.parameters = parameters
    _finish(stack, "UPDATE_COMPLETE")
    return True


def _delete(stack: Stack, retain: Iterable[str] = ()) -> bool:
    """Delete the stack's resources; DELETE_FAILED (stack kept) when some cannot be deleted. True if done."""
    _finish(stack, "DELETE_IN_PROGRESS", "User Initiated")
    blocked = _delete_resources(stack, resource_templates(stack.resource_map), keep=set(retain))
    if blocked:
        _finish(
            stack, "DELETE_FAILED", f"The following resource(s) failed to delete: [{', '.join(blocked)}]. "
        )
        return False
    _finish(stack, "DELETE_COMPLETE")
    return True


# --- the patched moto entry points -------------------------------------------------------------------------


def _live_stack(backend: CloudFormationBackend, name_or_id: str) -> Stack | None:
    if name_or_id in backend.stacks:
        return backend.stacks[name_or_id]
    return next((s for s in backend.stacks.values() if s.name == name_or_id), None)


def backend_create_stack(
    self: CloudFormationBackend,
    name: str,
    template: str,
    parameters: dict[str, Any],
    notification_arns: list[str] | None = None,
    tags: dict[str, str] | None = None,
    role_arn: str | None = None,
    enable_termination_protection: bool | None = False,
    timeout_in_mins: int | None = None,
    stack_policy_body: str | None = None,
) -> Stack:
    if _live_stack(self, name) is not None:
        raise AlreadyExistsException(f"Stack [{name}] already exists")
    stack = new_stack(
        stack_id=generate_stack_id(name, self.region_name, self.account_id),
        name=name,
        template=template,
        parameters=parameters,
        account_id=self.account_id,
        region_name=self.region_name,
        notification_arns=notification_arns,
        tags=tags,
        role_arn=role_arn,
        cross_stack_resources=self.exports,
        enable_termination_protection=enable_termination_protection,
        timeout_in_mins=timeout_in_mins,
        stack_policy_body=stack_policy_body,
    )
    self.stacks[stack.stack_id] = stack
    add_stack_event(stack, "CREATE_IN_PROGRESS", "User Initiated")
    _create(stack)
    return stack


def backend_create_change_set(
    self: CloudFormationBackend,
    stack_name: str,
    change_set_name: str,
    template: str,
    parameters: dict[str, str],
    description: str,
    change_set_type: str,
    **kwargs: Any,
) -> tuple[str, str]:
    existing = _live_stack(self, stack_name)
    if change_set_type == "UPDATE":
        if existing is None:
            raise ValidationError(stack_name)
        if existing.status not in UPDATABLE_STATES:
            raise ValidationError(
                message=f"Stack:{existing.stack_id} is in {existing.status} state and can not be updated."
            )
    elif existing is not None:
        if existing.status != "REVIEW_IN_PROGRESS":
            raise ValidationError(
                message=f"Stack [{stack_name}] already exists and cannot be created again with the changeSet "
                f"[{change_set_name}]."
            )
        # An unexecuted CREATE change set left a resource-less stack behind; AWS would reuse it, moto would
        # add a second stack of the same name: drop the empty one.
        del self.stacks[existing.stack_id]
    read_at, _read_at.count = getattr(_read_at, "count", None), None
    change_set_id, stack_id = _original_backend_create_change_set(
        self, stack_name, change_set_name, template, parameters, description, change_set_type, **kwargs
    )
    with _executing:
        change_set = self.change_sets[change_set_id]
        if (
            read_at is not None
            and read_at != _executions.get(change_set.stack_name, 0)
            and change_set.execution_status == "AVAILABLE"
        ):
            change_set.execution_status = "OBSOLETE"
    return change_set_id, stack_id


def backend_execute_change_set(
    self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None
) -> None:
    change_set: ChangeSet | None = self.change_sets.get(change_set_name) or next(
        (
            cs
            for cs in self.change_sets.values()
            if cs.change_set_name == change_set_name and (stack_name in (None, cs.stack_name, cs.stack_id))
        ),
        None,
    )
    if change_set is None:
        raise ValidationError(message=f"ChangeSet [{change_set_name}] does not exist")
    stack = self.stacks[change_set.stack_id]
    with _executing:
        # Checked under the lock: another execution may make this change set OBSOLETE until the last moment.
        if change_set.execution_status != "AVAILABLE":
            raise InvalidChangeSetStatus(
                message=f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current execution "
                f"status of [{change_set.execution_status}]"
            )
        # AWS refuses to run a change set while its stack is being changed, and marks the other change sets of
        # a stack OBSOLETE once one of them ran (ExecuteChangeSet: InvalidChangeSetStatus).
        if stack.status.endswith("_IN_PROGRESS") and stack.status != "REVIEW_IN_PROGRESS":
            raise InvalidChangeSetStatus(
                f"ChangeSet [{change_set.change_set_id}] cannot be executed while stack "
                f"[{stack.name}] is in {stack.status} state"
            )
        change_set.execution_status = "EXECUTE_IN_PROGRESS"
        stack.status = f"{change_set.change_set_type}_IN_PROGRESS"
        _executions[stack.name] = _executions.get(stack.name, 0) + 1
        for other in self.change_sets.values():
            if other.stack_id == stack.stack_id and other.execution_status == "AVAILABLE":
                other.execution_status = "OBSOLETE"
    if _gate is not None:
        _gate.wait(GATE_TIMEOUT_SECONDS)
    if change_set.tags:
        stack.tags = change_set.tags
    # A change set that names a role associates it with the stack; one that names none keeps the stack's.
    if change_set.role_arn:
        stack.role_arn = change_set.role_arn
    if change_set.change_set_type == "CREATE":
        stack.template = change_set.template
        parse_template(stack)
        stack.parameters = change_set.parameters
        stack.cross_stack_resources = self.exports
        stack.resource_map = new_resource_map(stack)
        add_stack_event(stack, "CREATE_IN_PROGRESS", "User Initiated")
        _create(stack)
        succeeded = stack.status == "CREATE_COMPLETE"
    else:
        add_stack_event(stack, "UPDATE_IN_PROGRESS", "User Initiated")
        succeeded = _update(stack, change_set.template, change_set.parameters)
    change_set.execution_status = "EXECUTE_COMPLETE" if succeeded else "EXECUTE_FAILED"


def backend_delete_change_set(self: CloudFormationBackend, change_set_name: str) -> None:
    # A change set that is gone (executing another one deletes a stack's other change sets) is no error:
    # DeleteChangeSet lists only InvalidChangeSetStatus (AWS CloudFormation API reference); moto answers 500.
    if change_set_name in self.change_sets or any(
        cs.change_set_name == change_set_name for cs in self.change_sets.values()
    ):
        _original_backend_delete_change_set(self, change_set_name)


def backend_delete_stack(
    self: CloudFormationBackend, name_or_stack_id: str, retain_resources: list[str] | None = None
) -> None:
    stack = _live_stack(self, name_or_stack_id)
    if stack is None:
        # Deleting a stack that does not exist (any more) succeeds silently in AWS.
        return
    if retain_resources and stack.status != "DELETE_FAILED":
        raise ValidationError(
            message=f"Invalid operation on stack [{stack.stack_id}]: RetainResources can only be specified "
            "when the stack is in the DELETE_FAILED state"
        )
    if not _delete(stack, retain_resources or ()):
        return
    del self.stacks[stack.stack_id]
    self.deleted_stacks[stack.stack_id] = stack
    for name, export in list(self.exports.items()):
        if export.exporting_stack_id == stack.stack_id:
            del self.exports[name]


def stack_update(
    self: Stack,
    template: str,
    role_arn: str | None = None,
    parameters: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    add_stack_event(self, "UPDATE_IN_PROGRESS", "User Initiated")
    self.role_arn = role_arn
    if tags is not None:
        self.tags = tags
    _update(self, template, parameters or None)


def stack_delete(self: Stack) -> None:
    _delete(self)


def stack_resources(self: Stack) -> list[Any]:
    # moto's version iterates the lazy resource map, which would rebuild resources already deleted.
    parsed = parsed_resources(self.resource_map)
    return [parsed[i] for i in resource_templates(self.resource_map) if _is_resource(parsed.get(i))]


def stack_outputs(self: Stack) -> list[dict[str, Any]] | None:
    if self.status not in UPDATABLE_STATES:
        return None
    return kept(self, "outputs")


def change_set_diff(self: ChangeSet) -> list[Change]:
    # moto lists only resources whose template text changed; CloudFormation also lists those that use a
    # parameter whose value changed (moto's build_resource_diff knows how, its change-set caller does not pass
    # the parameters).
    resources_map = self.stack.resource_map
    by_action = resources_map.build_resource_diff(self.template_dict, self.parameters)
    new_resources = self.template_dict.get("Resources", {})
    return [
        Change(
            action=action,
            logical_resource_id=logical_id,
            resource_type=(new_resources.get(logical_id) or resource_templates(resources_map)[logical_id])[
                "Type"
            ],
        )
        for action in ("Add", "Modify", "Remove")
        for logical_id in by_action[action]
    ]


def stack_resource_dto_init(self: Any, stack: Stack, resource: Any) -> None:
    _original_stack_resource_dto_init(self, stack, resource)
    # moto reports the stack's status for every resource.
    self.resource_status = _resource_status(stack, resource)


def response_create_change_set(self: Any) -> Any:
    # AWS answers an unchanged template with a FAILED change set ("didn't contain changes"), which moto's
    # backend does; the response layer's "No updates are to be performed" check belongs to UpdateStack only.
    self._validate_different_update = lambda *args, **kwargs: None
    existing = _live_stack(self.cloudformation_backend, self._get_param("StackName"))
    _read_at.count = _executions.get(existing.name, 0) if existing else None
    try:
        return _original_create_change_set_response(self)
    finally:
        _read_at.count = None


def response_delete_stack(self: Any) -> Any:
    self.cloudformation_backend.delete_stack(
        self._get_param("StackName"), retain_resources=self._get_param("RetainResources", [])
    )
    return EmptyResult()


def response_list_stack_resources(self: Any) -> Any:
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    summaries = [
        {
            "ResourceStatus": _resource_status(stack, resource),
            "LogicalResourceId": resource.logical_resource_id,
            "LastUpdateTimestamp": stack.creation_time,
            "PhysicalResourceId": _physical_id(resource),
            "ResourceType": resource.cf_resource_type,
        }
        for resource in stack.stack_resources
    ]
    return ActionResult({"StackResourceSummaries": summaries})


def _resource_status(stack: Stack, resource: Any) -> str:
    """The resource's latest status from the stack's events (moto hard-codes CREATE_COMPLETE)."""
    for event in reversed(stack.events):
        if event.logical_resource_id == resource.logical_resource_id and event.resource_type != (
            "AWS::CloudFormation::Stack"
        ):
            return event.resource_status
    return "CREATE_COMPLETE"


_original_backend_create_change_set = original(CloudFormationBackend, "create_change_set")
_original_backend_delete_change_set = original(CloudFormationBackend, "delete_change_set")
_original_stack_resource_dto_init = original(cfn_responses.StackResourceDTO, "__init__")
_installed = False


def install() -> None:
    """Apply the patch (idempotent)."""
    global _installed
    if _installed:
        return
    patch(parsing, "parse_and_create_resource", _create_resource)
    patch(CloudFormationBackend, "create_stack", backend_create_stack)
    patch(CloudFormationBackend, "create_change_set", backend_create_change_set)
    patch(CloudFormationBackend, "execute_change_set", backend_execute_change_set)
    patch(CloudFormationBackend, "delete_change_set", backend_delete_change_set)
    patch(CloudFormationBackend, "delete_stack", backend_delete_stack)
    patch(Stack, "update", stack_update)
    patch(Stack, "delete", stack_delete)
    patch(Stack, "stack_resources", property(stack_resources))
    patch(Stack, "outputs", property(stack_outputs))
    patch(ChangeSet, "diff", change_set_diff)
    patch(cfn_responses.StackResourceDTO, "__init__", stack_resource_dto_init)
    patch(cfn_responses.CloudFormationResponse, "create_change_set", response_create_change_set)
    patch(cfn_responses.CloudFormationResponse, "delete_stack", response_delete_stack)
    patch(cfn_responses.CloudFormationResponse, "list_stack_resources", response_list_stack_resources)
    _installed = True
