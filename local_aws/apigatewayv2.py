"""AWS::ApiGatewayV2::* emulations backed by moto's apigatewayv2 backend (get_apis, get_routes see them)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from moto.apigatewayv2.exceptions import ApiNotFound
from moto.apigatewayv2.models import ApiGatewayV2Backend, apigatewayv2_backends
from moto.apigatewayv2.responses import ApiGatewayV2Response
from moto.core.common_models import CloudFormationModel

from local_aws._base import Emulated, ReplacementRequired
from local_aws._props import as_bool, camelize, tag_map


def _backend(account_id: str, region_name: str) -> ApiGatewayV2Backend:
    return apigatewayv2_backends[account_id][region_name]


def _forget_if_api_gone(delete: Any, *args: Any) -> None:
    # Deleting an API deletes its routes, integrations, authorizers and stages with it (as in AWS), so a child
    # whose API is already gone counts as deleted.
    try:
        delete(*args)
    except ApiNotFound:
        pass


def _get_authorizers(self: ApiGatewayV2Response) -> tuple[int, dict[str, str], str]:
    api_id = self.path.split("/")[-2]
    authorizers = self.apigatewayv2_backend.get_api(api_id).authorizers.values()
    return 200, {}, json.dumps({"items": [authorizer.to_json() for authorizer in authorizers]})


def install() -> None:
    """moto routes GetAuthorizers (list an API's authorizers) but has no handler for it."""
    ApiGatewayV2Response.get_authorizers = _get_authorizers  # type: ignore[attr-defined]


class Api(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::ApiGatewayV2::Api"
    NAME_PROPERTY = "Name"
    ATTRIBUTES = {"ApiEndpoint": "api_endpoint", "ApiId": "api_id"}

    def __init__(self, api: Any):
        self.api_id = api.api_id
        self.api_endpoint = api.api_endpoint
        self.arn = api.arn

    @property
    def physical_resource_id(self) -> str:
        return self.api_id

    @staticmethod
    def _settings(props: dict[str, Any]) -> dict[str, Any]:
        return {
            "api_key_selection_expression": props.get("ApiKeySelectionExpression"),
            "cors_configuration": camelize(props.get("CorsConfiguration")),
            "description": props.get("Description"),
            "disable_schema_validation": as_bool(props.get("DisableSchemaValidation")),
            "disable_execute_api_endpoint": as_bool(props.get("DisableExecuteApiEndpoint")),
            "route_selection_expression": props.get("RouteSelectionExpression"),
            "version": props.get("Version"),
        }

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Api:
        api = _backend(account_id, region_name).create_api(
            name=props.get("Name", name),
            protocol_type=props.get("ProtocolType", "HTTP"),
            tags=tag_map(props.get("Tags")),
            **cls._settings(props),
        )
        return cls(api)

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Api:
        backend = _backend(account_id, region_name)
        backend.update_api(api_id=self.api_id, name=props.get("Name"), **type(self)._settings(props))
        backend.tag_resource(self.arn, tag_map(props.get("Tags")))
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        _backend(account_id, region_name).delete_api(self.api_id)


class VpcLink(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::ApiGatewayV2::VpcLink"
    NAME_PROPERTY = "Name"
    ATTRIBUTES = {"VpcLinkId": "vpc_link_id"}

    def __init__(self, vpc_link: Any):
        self.vpc_link_id = vpc_link.id

    @property
    def physical_resource_id(self) -> str:
        return self.vpc_link_id

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> VpcLink:
        vpc_link = _backend(account_id, region_name).create_vpc_link(
            name=props.get("Name", name),
            sg_ids=props.get("SecurityGroupIds", []),
            subnet_ids=props["SubnetIds"],
            tags=tag_map(props.get("Tags")),
        )
        return cls(vpc_link)

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> VpcLink:
        backend = _backend(account_id, region_name)
        current = backend.get_vpc_link(self.vpc_link_id)
        if current.subnet_ids != props["SubnetIds"] or current.sg_ids != props.get("SecurityGroupIds", []):
            # Subnets and security groups cannot change in place: AWS replaces the link.
            raise ReplacementRequired
        backend.update_vpc_link(self.vpc_link_id, name=props.get("Name", current.name))
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        _backend(account_id, region_name).delete_vpc_link(self.vpc_link_id)


class _ApiChild(Emulated):
    """A resource that lives inside one API: changing ApiId replaces it, anything else updates it in place.

    `child_id` is its id within the API (a stage's is its name); `DELETE` names the backend method that
    deletes it by (api id, child id).
    """

    DELETE: ClassVar[str]

    def __init__(self, api_id: str, child_id: str):
        self.api_id = api_id
        self.child_id = child_id

    @property
    def physical_resource_id(self) -> str:
        return self.child_id

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _backend(account_id, region_name)
        _forget_if_api_gone(getattr(backend, self.DELETE), self.api_id, self.child_id)

    @classmethod
    def _create(cls, backend: ApiGatewayV2Backend, props: dict[str, Any], name: str) -> Any:
        raise NotImplementedError

    def _update(self, backend: ApiGatewayV2Backend, props: dict[str, Any]) -> None:
        raise NotImplementedError

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Any:
        return cls._create(_backend(account_id, region_name), props, name)

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Any:
        backend = _backend(account_id, region_name)
        if props["ApiId"] != self.api_id:
            raise ReplacementRequired
        self._update(backend, props)
        return self


class Integration(_ApiChild, CloudFormationModel):
    CFN_TYPE = "AWS::ApiGatewayV2::Integration"
    ATTRIBUTES = {"IntegrationId": "child_id"}
    DELETE = "delete_integration"

    @staticmethod
    def _settings(props: dict[str, Any]) -> dict[str, Any]:
        return {
            "connection_id": props.get("ConnectionId"),
            "connection_type": props.get("ConnectionType", "INTERNET"),
            "content_handling_strategy": props.get("ContentHandlingStrategy"),
            "credentials_arn": props.get("CredentialsArn"),
            "description": props.get("Description"),
            "integration_method": props.get("IntegrationMethod"),
            "integration_subtype": props.get("IntegrationSubtype"),
            "integration_type": props["IntegrationType"],
            "integration_uri": props.get("IntegrationUri"),
            "passthrough_behavior": props.get("PassthroughBehavior"),
            "payload_format_version": props.get("PayloadFormatVersion"),
            "request_parameters": props.get("RequestParameters"),
            "request_templates": props.get("RequestTemplates"),
            "response_parameters": props.get("ResponseParameters"),
            "template_selection_expression": props.get("TemplateSelectionExpression"),
            "timeout_in_millis": props.get("TimeoutInMillis"),
            "tls_config": camelize(props.get("TlsConfig")),
        }

    @classmethod
    def _create(cls, backend: ApiGatewayV2Backend, props: dict[str, Any], name: str) -> Integration:
        integration = backend.create_integration(api_id=props["ApiId"], **cls._settings(props))
        return cls(props["ApiId"], integration.id)

    def _update(self, backend: ApiGatewayV2Backend, props: dict[str, Any]) -> None:
        backend.update_integration(api_id=self.api_id, integration_id=self.child_id, **self._settings(props))


class Authorizer(_ApiChild, CloudFormationModel):
    CFN_TYPE = "AWS::ApiGatewayV2::Authorizer"
    ATTRIBUTES = {"AuthorizerId": "child_id"}
    DELETE = "delete_authorizer"

    @staticmethod
    def _settings(props: dict[str, Any]) -> dict[str, Any]:
        return {
            "auth_creds_arn": props.get("AuthorizerCredentialsArn"),
            "auth_payload_format_version": props.get("AuthorizerPayloadFormatVersion"),
            "auth_result_ttl": props.get("AuthorizerResultTtlInSeconds"),
            "authorizer_uri": props.get("AuthorizerUri"),
            "authorizer_type": props["AuthorizerType"],
            "enable_simple_response": as_bool(props.get("EnableSimpleResponses")),
            "identity_source": props.get("IdentitySource"),
            "identity_validation_expr": props.get("IdentityValidationExpression"),
            "jwt_config": camelize(props.get("JwtConfiguration")),
            "name": props["Name"],
        }

    @classmethod
    def _create(cls, backend: ApiGatewayV2Backend, props: dict[str, Any], name: str) -> Authorizer:
        authorizer = backend.create_authorizer(api_id=props["ApiId"], **cls._settings(props))
        return cls(props["ApiId"], authorizer.id)

    def _update(self, backend: ApiGatewayV2Backend, props: dict[str, Any]) -> None:
        backend.update_authorizer(api_id=self.api_id, authorizer_id=self.child_id, **self._settings(props))


class Route(_ApiChild, CloudFormationModel):
    CFN_TYPE = "AWS::ApiGatewayV2::Route"
    ATTRIBUTES = {"RouteId": "child_id"}
    DELETE = "delete_route"

    @staticmethod
    def _settings(props: dict[str, Any]) -> dict[str, Any]:
        return {
            "api_key_required": as_bool(props.get("ApiKeyRequired")) or False,
            "authorization_scopes": props.get("AuthorizationScopes", []),
            "authorization_type": props.get("AuthorizationType", "NONE"),
            "authorizer_id": props.get("AuthorizerId"),
            "model_selection_expression": props.get("ModelSelectionExpression"),
            "operation_name": props.get("OperationName"),
            "request_models": props.get("RequestModels"),
            "request_parameters": props.get("RequestParameters"),
            "route_key": props["RouteKey"],
            "route_response_selection_expression": props.get("RouteResponseSelectionExpression"),
            "target": props.get("Target"),
        }

    @classmethod
    def _create(cls, backend: ApiGatewayV2Backend, props: dict[str, Any], name: str) -> Route:
        route = backend.create_route(api_id=props["ApiId"], **cls._settings(props))
        return cls(props["ApiId"], route.route_id)

    def _update(self, backend: ApiGatewayV2Backend, props: dict[str, Any]) -> None:
        route = backend.get_route(self.api_id, self.child_id)
        settings = self._settings(props)
        # moto's update keeps a value it is given None for; CloudFormation clears a removed property.
        route.authorizer_id = settings["authorizer_id"]
        route.target = settings["target"]
        backend.update_route(api_id=self.api_id, route_id=self.child_id, **settings)


class Stage(_ApiChild, CloudFormationModel):
    CFN_TYPE = "AWS::ApiGatewayV2::Stage"
    NAME_PROPERTY = "StageName"
    DELETE = "delete_stage"

    @staticmethod
    def _config(props: dict[str, Any], name: str) -> dict[str, Any]:
        config = camelize(
            {key: value for key, value in props.items() if key not in ("ApiId", "Tags", "StageName")},
            keep_values_of=frozenset({"StageVariables"}),
        )
        if "autoDeploy" in config:
            config["autoDeploy"] = as_bool(config["autoDeploy"])
        if "RouteSettings" in props:  # keyed by route key ("POST /auth/token"): data, not property names
            config["routeSettings"] = {key: camelize(value) for key, value in props["RouteSettings"].items()}
        config["stageName"] = props.get("StageName", name)
        config["tags"] = tag_map(props.get("Tags"))
        return config

    @classmethod
    def _create(cls, backend: ApiGatewayV2Backend, props: dict[str, Any], name: str) -> Stage:
        stage = backend.create_stage(props["ApiId"], cls._config(props, name))
        return cls(props["ApiId"], stage.name)

    def _update(self, backend: ApiGatewayV2Backend, props: dict[str, Any]) -> None:
        # moto's Stage has no update: rebuild it from the new properties under the same name, keeping its
        # creation date as an in-place update does.
        created = backend.get_stage(self.api_id, self.child_id).created
        backend.delete_stage(self.api_id, self.child_id)
        stage = backend.create_stage(self.api_id, self._config(props, self.child_id))
        stage.created = created
