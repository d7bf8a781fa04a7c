"""API Gateway's routes come from the app: the same (method, path) set, and the authorizer exactly where the
app itself demands a bearer token.

Both checks use sources independent of the route table the templates are generated from: the app's OpenAPI
document for the route set, and the running API (the container's start command, via the shared `client`
fixture) for which routes refuse a request without a token.
"""

from __future__ import annotations

import httpx
import pytest

from app.main import app
from tests.templates_support import DEFAULT_IN_EVERY_REGION, load, resources_of_type

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options"}


def gateway_routes(config: str) -> dict[str, dict]:
    routes = resources_of_type(load(config), "AWS::ApiGatewayV2::Route")
    return {route["Properties"]["RouteKey"]: route["Properties"] for route in routes.values()}


def openapi_routes() -> set[str]:
    paths = app.openapi()["paths"]
    return {
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        for method in operations
        if method in HTTP_METHODS
    }


@pytest.mark.parametrize("config", DEFAULT_IN_EVERY_REGION)
def test_gateway_has_exactly_the_apps_routes(config: str) -> None:
    assert set(gateway_routes(config)) == openapi_routes()


@pytest.mark.parametrize("config", DEFAULT_IN_EVERY_REGION)
def test_every_route_targets_the_service_integration(config: str) -> None:
    template = load(config)
    (integration_id,) = resources_of_type(template, "AWS::ApiGatewayV2::Integration")
    for key, route in gateway_routes(config).items():
        assert route["Target"] == {"Fn::Join": ["/", ["integrations", {"Ref": integration_id}]]}, key


@pytest.mark.parametrize("config", DEFAULT_IN_EVERY_REGION)
def test_authorizer_runs_exactly_where_the_app_refuses_anonymous_requests(
    config: str, client: httpx.Client
) -> None:
    refuses_anonymous = set()
    for key in openapi_routes():
        method, path = key.split(" ", 1)
        response = client.request(method, path.replace("{user_name}", "nobody"), json={})
        if response.status_code == 401:
            assert response.headers.get("www-authenticate") == "Bearer", key
            refuses_anonymous.add(key)
    routes = gateway_routes(config)
    custom = {key for key, route in routes.items() if route["AuthorizationType"] == "CUSTOM"}
    assert custom == refuses_anonymous
    assert "GET /location/history" in custom and "POST /auth/token" not in custom
    (authorizer_id,) = resources_of_type(load(config), "AWS::ApiGatewayV2::Authorizer")
    for key, route in routes.items():
        if key in custom:
            assert route["AuthorizerId"] == {"Ref": authorizer_id}
        else:
            assert route["AuthorizationType"] == "NONE" and "AuthorizerId" not in route, key


@pytest.mark.parametrize("config", DEFAULT_IN_EVERY_REGION)
def test_authorizer_is_a_cached_request_authorizer_on_the_authorization_header(config: str) -> None:
    (authorizer,) = resources_of_type(load(config), "AWS::ApiGatewayV2::Authorizer").values()
    properties = authorizer["Properties"]
    assert properties["AuthorizerType"] == "REQUEST"
    assert properties["AuthorizerPayloadFormatVersion"] == "2.0"
    assert properties["EnableSimpleResponses"] is True
    assert properties["IdentitySource"] == ["$request.header.Authorization"]
    assert 0 < properties["AuthorizerResultTtlInSeconds"] <= 300
