"""The resource an ECR or CloudFormation call acts on, for moto's IAM enforcement.

moto can enforce IAM (`/moto-api/reset-auth`, the INITIAL_NO_AUTH_ACTION_COUNT setting), but it checks each
call against the resource `*` unless the service's response class names the real one: a statement scoped to
a repository or a stack ARN, as the project's roles are written, would then never match. `install()` names
the ARN that AWS's service authorization reference gives for these services' actions: the repository for
ECR (GetAuthorizationToken has none: `*`), the stack for CloudFormation (a change set's stack when only
the change set is named). It also stores the inline policies of roles made by CloudFormation as JSON text,
as IAM's PutRolePolicy does: moto keeps them as dicts there, which its enforcement cannot read.
"""

from __future__ import annotations

import json
from typing import Any

from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.ecr.responses import ECRResponse
from moto.iam.models import Role
from moto.utilities.utils import get_partition


def _ecr_resource(self: Any) -> str:
    name = self._get_param("repositoryName") or next(iter(self._get_param("repositoryNames") or []), None)
    if not name:
        return "*"
    return f"arn:{get_partition(self.region)}:ecr:{self.region}:{self.current_account}:repository/{name}"


def _stack_resource(self: Any) -> str:
    backend = cloudformation_backends[self.current_account][self.region]
    change_set_name = self._get_param("ChangeSetName")
    stack_name = self._get_param("StackName")
    if change_set_name and change_set_name in backend.change_sets:
        return str(backend.change_sets[change_set_name].stack_id)
    if not stack_name:
        return "*"
    if stack_name.startswith("arn:"):
        return str(stack_name)
    live = [s for s in backend.stacks.values() if s.name == stack_name and s.status != "DELETE_COMPLETE"]
    stack_id = live[0].stack_id if live else f"{stack_name}/*"
    if str(stack_id).startswith("arn:"):
        return str(stack_id)
    partition = get_partition(self.region)
    return f"arn:{partition}:cloudformation:{self.region}:{self.current_account}:stack/{stack_id}"


_original_put_policy = Role.put_policy


def _put_policy_as_text(self: Role, policy_name: str, policy_json: Any) -> None:
    _original_put_policy(
        self, policy_name, policy_json if isinstance(policy_json, str) else json.dumps(policy_json)
    )


def install() -> None:
    """Apply (idempotent): moto asks a response class for `_determine_resource` when it has one."""
    ECRResponse._determine_resource = _ecr_resource  # type: ignore[attr-defined]
    CloudFormationResponse._determine_resource = _stack_resource  # type: ignore[attr-defined]
    Role.put_policy = _put_policy_as_text  # type: ignore[method-assign]
