"""The one module of local_aws that touches moto's internals: its models, backends and exceptions, the
functions local_aws replaces, and the private attributes it reads or writes.

moto's public interface is its HTTP server and `mock_aws`; everything local_aws needs beyond that is here, so
a moto upgrade breaks in this file, loudly: the version check below refuses an untested moto in one line, an
import that moved fails at import, and `patch` refuses to replace an attribute moto no longer has.
"""

# ruff: noqa: E402  (the version is checked before any internal is imported)

from __future__ import annotations

from typing import Any

from moto import __version__ as MOTO_VERSION

# pyproject's dev extra pins moto[server,cloudformation] to this minor (a test keeps the two equal).
TESTED_MOTO = "5.2"


class UnsupportedMoto(ImportError):
    """The installed moto is not the one local_aws was tested with, or lacks what it patches (one line)."""


def check_version(version: str = MOTO_VERSION) -> None:
    if not version.startswith(f"{TESTED_MOTO}."):
        raise UnsupportedMoto(
            f"moto {version} is installed but the local AWS emulator is tested with moto {TESTED_MOTO}: "
            f"pip install 'moto[server,cloudformation]=={TESTED_MOTO}.*'"
        )


check_version()

from moto.apigatewayv2.exceptions import ApiNotFound
from moto.apigatewayv2.models import ApiGatewayV2Backend, apigatewayv2_backends
from moto.apigatewayv2.responses import ApiGatewayV2Response
from moto.applicationautoscaling.models import ApplicationAutoscalingBackend, applicationautoscaling_backends
from moto.awslambda.models import lambda_backends
from moto.cloudformation import parsing
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import (
    AlreadyExistsException,
    CloudFormationError,
    UnformattedGetAttTemplateException,
    ValidationError,
)
from moto.cloudformation.models import (
    Change,
    ChangeSet,
    CloudFormationBackend,
    Event,
    Stack,
    cloudformation_backends,
)
from moto.cloudformation.responses import CloudFormationResponse
from moto.cloudformation.utils import generate_stack_id
from moto.codebuild.models import CodeBuild, CodeBuildBackend, codebuild_backends
from moto.codepipeline.exceptions import InvalidStructureException
from moto.codepipeline.models import CodePipeline, CodePipelineBackend, codepipeline_backends
from moto.core.common_models import CloudFormationModel
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.internet_gateways import InternetGateway
from moto.ec2.models.route_tables import Route, RouteTable
from moto.ec2.models.security_groups import SecurityGroupIngress
from moto.ec2.models.vpcs import VPCEndPoint
from moto.ec2.models.vpn_gateway import VPCGatewayAttachment
from moto.ecr.responses import ECRResponse
from moto.ecs.models import EC2ContainerServiceBackend, Task, ecs_backends
from moto.efs.models import AccessPoint, FileSystem, MountTarget, efs_backends
from moto.iam.exceptions import NotFoundException
from moto.iam.models import Role, iam_backends
from moto.logs import utils as moto_log_utils
from moto.logs.exceptions import InvalidParameterException
from moto.logs.models import LogGroup
from moto.moto_api import state_manager
from moto.moto_api._internal import mock_random
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.rds.models import RDSBackend, rds_backends
from moto.route53.models import route53_backends
from moto.s3.models import s3_backends
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend, secretsmanager_backends
from moto.servicediscovery.models import ServiceDiscoveryBackend, servicediscovery_backends
from moto.utilities.utils import get_partition

__all__ = [
    "AccessPoint",
    "ActionResult",
    "add_stack_event",
    "AlreadyExistsException",
    "apigatewayv2_backends",
    "ApiGatewayV2Backend",
    "ApiGatewayV2Response",
    "ApiNotFound",
    "applicationautoscaling_backends",
    "ApplicationAutoscalingBackend",
    "cfn_responses",
    "Change",
    "ChangeSet",
    "check_version",
    "cloudformation_backends",
    "emulated_stack",
    "CloudFormationBackend",
    "CloudFormationError",
    "CloudFormationModel",
    "CloudFormationResponse",
    "CodeBuild",
    "codebuild_backends",
    "CodeBuildBackend",
    "CodePipeline",
    "codepipeline_backends",
    "CodePipelineBackend",
    "ec2_backends",
    "EC2ContainerServiceBackend",
    "ECRResponse",
    "ecs_backends",
    "efs_backends",
    "EmptyResult",
    "Event",
    "FakeSecret",
    "FileSystem",
    "generate_stack_id",
    "get_partition",
    "iam_backends",
    "InternetGateway",
    "InvalidParameterException",
    "InvalidStructureException",
    "keep",
    "kept",
    "lambda_backends",
    "LogGroup",
    "mock_random",
    "moto_log_utils",
    "MOTO_VERSION",
    "MountTarget",
    "NetworkInterface",
    "new_resource_map",
    "new_stack",
    "NotFoundException",
    "original",
    "parse_template",
    "parsed_resources",
    "parsing",
    "patch",
    "rds_backends",
    "RDSBackend",
    "rebuild_outputs",
    "ReportingMotoServer",
    "reset_backends",
    "resource_map_location",
    "resource_templates",
    "Role",
    "Route",
    "route53_backends",
    "RouteTable",
    "s3_backends",
    "secretsmanager_backends",
    "SecretsManagerBackend",
    "SecurityGroupIngress",
    "servicediscovery_backends",
    "ServiceDiscoveryBackend",
    "set_file_system_backup",
    "set_resource_templates",
    "set_template",
    "Stack",
    "state_manager",
    "Task",
    "TESTED_MOTO",
    "UnformattedGetAttTemplateException",
    "UnsupportedMoto",
    "utcnow",
    "validate_network",
    "ValidationError",
    "VPCEndPoint",
    "VPCGatewayAttachment",
]


# --- replacing moto's functions -----------------------------------------------------------------------------


def original(owner: Any, name: str) -> Any:
    """moto's `owner.name`, for a replacement that calls it; refuses loudly when moto no longer has it."""
    if not hasattr(owner, name):
        raise UnsupportedMoto(
            f"moto {MOTO_VERSION} has no {getattr(owner, '__name__', owner)}.{name} any more: "
            "local_aws/moto_adapter.py needs updating for this moto"
        )
    return getattr(owner, name)


def patch(owner: Any, name: str, replacement: Any, *, new: bool = False) -> None:
    """Replace moto's `owner.name` (`new=True`: add what moto lacks, e.g. a `delete` it never defined)."""
    if not new:
        original(owner, name)
    setattr(owner, name, replacement)


# --- moto's private state that local_aws reads or writes ---------------------------------------------------


def set_undeclared(model: Any, **values: Any) -> None:
    """Set attributes that moto's responses read but its model class never declares (a task's times, a change
    set's change details), so that the type checker sees no attribute moto lacks."""
    for name, value in values.items():
        setattr(model, name, value)


def keep(model: Any, name: str, value: Any) -> None:
    """local_aws's own state on a moto object (the properties a resource was made from, a stack's outputs)."""
    setattr(model, f"_local_aws_{name}", value)


def kept(model: Any, name: str, default: Any = None) -> Any:
    return getattr(model, f"_local_aws_{name}", default)


def new_stack(**arguments: Any) -> Stack:
    """A stack as moto's create_stack makes one (moto's Stack leaves two nested-stack hooks abstract)."""
    return Stack(**arguments)  # type: ignore[abstract]


def emulated_stack(account_id: str, region: str, name: str) -> Stack:
    """The emulator's own record of a live stack, for tests that put it in a state no API call can (a stack
    another process is updating, one whose rollback failed)."""
    stacks = cloudformation_backends[account_id][region].stacks.values()
    return next(s for s in stacks if s.name == name and not s.status.startswith("DELETE_COMPLETE"))


def reset_backends() -> None:
    """Forget every emulated resource in this process (what POST /moto-api/reset does)."""
    moto_api_backend.reset()


def resource_map_location(resources_map: parsing.ResourceMap) -> tuple[str, str]:
    return resources_map._account_id, resources_map._region_name


def resource_templates(resources_map: parsing.ResourceMap) -> dict[str, Any]:
    """Logical id -> the resource's template JSON."""
    return resources_map._resource_json_map


def parsed_resources(resources_map: parsing.ResourceMap) -> dict[str, Any]:
    """Logical id -> moto's model object (or a parameter's value)."""
    return resources_map._parsed_resources


def set_template(resources_map: parsing.ResourceMap, template: dict[str, Any]) -> None:
    resources_map._template = template


def set_resource_templates(resources_map: parsing.ResourceMap, resources: dict[str, Any]) -> None:
    resources_map._resource_json_map = resources


def add_stack_event(stack: Stack, status: str, reason: str | None = None) -> None:
    stack._add_stack_event(status, resource_status_reason=reason)


def rebuild_outputs(stack: Stack) -> None:
    stack.output_map = stack._create_output_map()


def parse_template(stack: Stack) -> None:
    stack._parse_template()


def new_resource_map(stack: Stack) -> parsing.ResourceMap:
    return stack._create_resource_map()


def validate_network(service: Any, network_configuration: dict[str, Any]) -> Any:
    """moto's check of an ECS service's awsvpc configuration, as its create_service applies it."""
    return service._validate_network(network_configuration)


def set_file_system_backup(file_system: FileSystem, enabled: bool) -> None:
    file_system._backup = enabled


class ReportingMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer waits forever when its server cannot start (the error dies in its thread, and
    werkzeug turns "address in use" into SystemExit there): this one reports it in `error` instead."""

    def __init__(self, host: str, port: int):
        super().__init__(ip_address=host, port=port, verbose=False)
        self.error: str | None = None

    def _server_entry(self) -> None:
        try:
            super()._server_entry()
        except (OSError, SystemExit) as exc:
            self.error = getattr(exc, "strerror", None) or "the server could not start"
            self._server_ready_event.set()
