"""Each emulated CloudFormation type, deployed through moto's real server on 127.0.0.1 with boto3: the
service's own API sees the resource as the template describes it, Ref/GetAtt values are shaped like AWS's, an
update changes it in place where AWS does, and deleting the stack removes it from the service's API.

Nothing is mocked: no AWS account exists here, so moto's server is the AWS these tests talk to.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

import local_aws
from tests.local_aws_support import ACCOUNT, REGION, client, deploy, outputs, unique, vpc_resources

pytestmark = pytest.mark.slow  # see conftest.py (deploys stacks on the emulator)

ARN_PREFIX = f"arn:aws:{{service}}:{REGION}:{ACCOUNT}:"


@pytest.fixture(scope="module")
def endpoint_url() -> Iterator[str]:
    with local_aws.running() as url:
        yield url


@pytest.fixture
def cfn(endpoint_url: str) -> Any:
    return client(endpoint_url, "cloudformation")


def _arn(service: str) -> str:
    return ARN_PREFIX.format(service=service)


# --- API Gateway v2 -----------------------------------------------------------------------------------------


def _http_api_template(description: str, route_key: str, auto_deploy: bool) -> dict[str, Any]:
    return {
        "Resources": {
            **vpc_resources(),
            "Api": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {"Name": "orders", "ProtocolType": "HTTP", "Description": description},
            },
            "Link": {
                "Type": "AWS::ApiGatewayV2::VpcLink",
                "Properties": {
                    "Name": "orders-link",
                    "SubnetIds": [{"Ref": "Subnet"}],
                    "SecurityGroupIds": [{"Ref": "SecurityGroup"}],
                },
            },
            "Integration": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "IntegrationType": "HTTP_PROXY",
                    "IntegrationMethod": "ANY",
                    "ConnectionType": "VPC_LINK",
                    "ConnectionId": {"Ref": "Link"},
                    "IntegrationUri": f"{_arn('servicediscovery')}service/srv-abcdefgh",
                    "PayloadFormatVersion": "1.0",
                },
            },
            "Authorizer": {
                "Type": "AWS::ApiGatewayV2::Authorizer",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "Name": "token",
                    "AuthorizerType": "REQUEST",
                    "AuthorizerUri": f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
                    f"{_arn('lambda')}function:auth/invocations",
                    "AuthorizerPayloadFormatVersion": "2.0",
                    "EnableSimpleResponses": True,
                    "IdentitySource": ["$request.header.Authorization"],
                },
            },
            "Route": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "RouteKey": route_key,
                    "AuthorizationType": "CUSTOM",
                    "AuthorizerId": {"Ref": "Authorizer"},
                    "Target": {"Fn::Sub": "integrations/${Integration}"},
                },
            },
            "Stage": {
                "Type": "AWS::ApiGatewayV2::Stage",
                "Properties": {"ApiId": {"Ref": "Api"}, "StageName": "$default", "AutoDeploy": auto_deploy},
            },
        },
        "Outputs": {
            "ApiId": {"Value": {"Ref": "Api"}},
            "ApiIdAttr": {"Value": {"Fn::GetAtt": ["Api", "ApiId"]}},
            "ApiEndpoint": {"Value": {"Fn::GetAtt": ["Api", "ApiEndpoint"]}},
            "VpcLinkId": {"Value": {"Ref": "Link"}},
            "IntegrationId": {"Value": {"Ref": "Integration"}},
            "AuthorizerId": {"Value": {"Ref": "Authorizer"}},
            "RouteId": {"Value": {"Ref": "Route"}},
            "StageName": {"Value": {"Ref": "Stage"}},
        },
    }


def test_http_api_types_deploy_update_in_place_and_delete(cfn: Any, endpoint_url: str) -> None:
    apigw = client(endpoint_url, "apigatewayv2")
    name = unique("http-api")
    out = outputs(deploy(cfn, name, _http_api_template("v1", "GET /orders", auto_deploy=True)))

    api_id = out["ApiId"]
    assert re.fullmatch(r"[a-z0-9]{8,10}", api_id)
    assert out["ApiIdAttr"] == api_id
    assert out["ApiEndpoint"] == f"https://{api_id}.execute-api.{REGION}.amazonaws.com"
    assert out["StageName"] == "$default"
    api = next(a for a in apigw.get_apis()["Items"] if a["ApiId"] == api_id)
    assert (api["Name"], api["ProtocolType"], api["Description"]) == ("orders", "HTTP", "v1")
    (route,) = apigw.get_routes(ApiId=api_id)["Items"]
    assert route["RouteId"] == out["RouteId"]
    assert (route["RouteKey"], route["AuthorizationType"]) == ("GET /orders", "CUSTOM")
    assert route["AuthorizerId"] == out["AuthorizerId"]
    assert route["Target"] == f"integrations/{out['IntegrationId']}"
    (integration,) = apigw.get_integrations(ApiId=api_id)["Items"]
    assert (integration["ConnectionType"], integration["ConnectionId"]) == ("VPC_LINK", out["VpcLinkId"])
    assert integration["IntegrationType"] == "HTTP_PROXY"
    (authorizer,) = apigw.get_authorizers(ApiId=api_id)["Items"]
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is True
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    link = next(v for v in apigw.get_vpc_links()["Items"] if v["VpcLinkId"] == out["VpcLinkId"])
    assert link["Name"] == "orders-link"
    (stage,) = apigw.get_stages(ApiId=api_id)["Items"]
    assert (stage["StageName"], stage["AutoDeploy"]) == ("$default", True)

    updated = outputs(
        deploy(cfn, name, _http_api_template("v2", "POST /orders", auto_deploy=False), kind="UPDATE")
    )

    assert updated == out, "every id stays the same: these properties update in place"
    assert apigw.get_api(ApiId=api_id)["Description"] == "v2"
    assert apigw.get_route(ApiId=api_id, RouteId=out["RouteId"])["RouteKey"] == "POST /orders"
    assert apigw.get_stage(ApiId=api_id, StageName="$default")["AutoDeploy"] is False

    cfn.delete_stack(StackName=name)

    assert api_id not in [a["ApiId"] for a in apigw.get_apis()["Items"]]
    assert out["VpcLinkId"] not in [v["VpcLinkId"] for v in apigw.get_vpc_links()["Items"]]


# --- Cloud Map -------------------------------------------------------------------------------------------


def _cloud_map_template(ttl: int, description: str) -> dict[str, Any]:
    return {
        "Resources": {
            **vpc_resources("10.8.0.0/16", "10.8.0.0/24"),
            "Namespace": {
                "Type": "AWS::ServiceDiscovery::PrivateDnsNamespace",
                "Properties": {"Name": "orders.local", "Vpc": {"Ref": "Vpc"}},
            },
            "Service": {
                "Type": "AWS::ServiceDiscovery::Service",
                "Properties": {
                    "Name": "api",
                    "Description": description,
                    "DnsConfig": {
                        "NamespaceId": {"Fn::GetAtt": ["Namespace", "Id"]},
                        "DnsRecords": [{"Type": "SRV", "TTL": ttl}],
                        "RoutingPolicy": "MULTIVALUE",
                    },
                    "HealthCheckCustomConfig": {"FailureThreshold": 1},
                },
            },
        },
        "Outputs": {
            "NamespaceId": {"Value": {"Fn::GetAtt": ["Namespace", "Id"]}},
            "NamespaceRef": {"Value": {"Ref": "Namespace"}},
            "NamespaceArn": {"Value": {"Fn::GetAtt": ["Namespace", "Arn"]}},
            "HostedZoneId": {"Value": {"Fn::GetAtt": ["Namespace", "HostedZoneId"]}},
            "ServiceRef": {"Value": {"Ref": "Service"}},
            "ServiceId": {"Value": {"Fn::GetAtt": ["Service", "Id"]}},
            "ServiceArn": {"Value": {"Fn::GetAtt": ["Service", "Arn"]}},
            "ServiceName": {"Value": {"Fn::GetAtt": ["Service", "Name"]}},
        },
    }


def test_cloud_map_namespace_and_service(cfn: Any, endpoint_url: str) -> None:
    discovery = client(endpoint_url, "servicediscovery")
    route53 = client(endpoint_url, "route53")
    name = unique("cloud-map")
    out = outputs(deploy(cfn, name, _cloud_map_template(ttl=10, description="v1")))

    assert (
        re.fullmatch(r"ns-[a-z0-9]{16,20}", out["NamespaceId"]) and out["NamespaceRef"] == out["NamespaceId"]
    )
    assert out["NamespaceArn"] == f"{_arn('servicediscovery')}namespace/{out['NamespaceId']}"
    assert re.fullmatch(r"srv-[a-z0-9]{8,20}", out["ServiceId"]) and out["ServiceRef"] == out["ServiceId"]
    assert out["ServiceArn"] == f"{_arn('servicediscovery')}service/{out['ServiceId']}"
    assert out["ServiceName"] == "api"
    namespace = discovery.get_namespace(Id=out["NamespaceId"])["Namespace"]
    assert (namespace["Name"], namespace["Type"]) == ("orders.local", "DNS_PRIVATE")
    assert route53.get_hosted_zone(Id=out["HostedZoneId"])["HostedZone"]["Config"]["PrivateZone"] is True
    service = discovery.get_service(Id=out["ServiceId"])["Service"]
    assert service["NamespaceId"] == out["NamespaceId"]
    assert service["DnsConfig"]["DnsRecords"] == [{"Type": "SRV", "TTL": 10}]

    updated = outputs(deploy(cfn, name, _cloud_map_template(ttl=30, description="v2"), kind="UPDATE"))

    assert updated["ServiceId"] == out["ServiceId"], "DNS records and description update in place"
    service = discovery.get_service(Id=out["ServiceId"])["Service"]
    assert (service["Description"], service["DnsConfig"]["DnsRecords"][0]["TTL"]) == ("v2", 30)

    cfn.delete_stack(StackName=name)

    assert out["ServiceId"] not in [s["Id"] for s in discovery.list_services()["Services"]]
    assert out["NamespaceId"] not in [n["Id"] for n in discovery.list_namespaces()["Namespaces"]]
    with pytest.raises(ClientError, match="NoSuchHostedZone"):
        route53.get_hosted_zone(Id=out["HostedZoneId"])


# --- CodeBuild and CodePipeline ----------------------------------------------------------------------------


def _role(service: str) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                # A list of principals, as awacs renders it.
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": [service]}, "Action": ["sts:AssumeRole"]}
                ],
            }
        },
    }


def _pipeline_template(timeout: int, branch: str) -> dict[str, Any]:
    return {
        "Resources": {
            "BuildRole": _role("codebuild.amazonaws.com"),
            "PipelineRole": _role("codepipeline.amazonaws.com"),
            "Project": {
                "Type": "AWS::CodeBuild::Project",
                "Properties": {
                    "Name": "orders-build",
                    "ServiceRole": {"Fn::GetAtt": ["BuildRole", "Arn"]},
                    "Source": {"Type": "CODEPIPELINE", "BuildSpec": "buildspecs/create.yml"},
                    "Artifacts": {"Type": "CODEPIPELINE"},
                    "Environment": {
                        "Type": "ARM_CONTAINER",
                        "ComputeType": "BUILD_GENERAL1_SMALL",
                        "Image": "aws/codebuild/amazonlinux-aarch64-standard:3.0",
                        "EnvironmentVariables": [
                            {"Name": "ECS1_PROJECT", "Value": "ecs1", "Type": "PLAINTEXT"}
                        ],
                    },
                    "TimeoutInMinutes": timeout,
                },
            },
            "Pipeline": {
                "Type": "AWS::CodePipeline::Pipeline",
                "Properties": {
                    "Name": "orders",
                    "RoleArn": {"Fn::GetAtt": ["PipelineRole", "Arn"]},
                    "ArtifactStore": {"Type": "S3", "Location": "orders-artifacts"},
                    "Stages": [
                        {
                            "Name": "Source",
                            "Actions": [
                                {
                                    "Name": "GitHub",
                                    "ActionTypeId": {
                                        "Category": "Source",
                                        "Owner": "AWS",
                                        "Provider": "CodeStarSourceConnection",
                                        "Version": "1",
                                    },
                                    "Configuration": {
                                        "ConnectionArn": f"{_arn('codestar-connections')}connection/abc",
                                        "FullRepositoryId": "owner/orders",
                                        "BranchName": branch,
                                    },
                                    "OutputArtifacts": [{"Name": "Source"}],
                                }
                            ],
                        },
                        {
                            "Name": "Build",
                            "Actions": [
                                {
                                    "Name": "Build",
                                    "ActionTypeId": {
                                        "Category": "Build",
                                        "Owner": "AWS",
                                        "Provider": "CodeBuild",
                                        "Version": "1",
                                    },
                                    "Configuration": {"ProjectName": {"Ref": "Project"}},
                                    "InputArtifacts": [{"Name": "Source"}],
                                }
                            ],
                        },
                    ],
                },
            },
        },
        "Outputs": {
            "ProjectName": {"Value": {"Ref": "Project"}},
            "ProjectArn": {"Value": {"Fn::GetAtt": ["Project", "Arn"]}},
            "PipelineName": {"Value": {"Ref": "Pipeline"}},
            "PipelineVersion": {"Value": {"Fn::GetAtt": ["Pipeline", "Version"]}},
        },
    }


def test_codebuild_project_and_codepipeline_pipeline(cfn: Any, endpoint_url: str) -> None:
    codebuild = client(endpoint_url, "codebuild")
    codepipeline = client(endpoint_url, "codepipeline")
    name = unique("pipeline")
    out = outputs(deploy(cfn, name, _pipeline_template(timeout=20, branch="main")))

    assert out["ProjectName"] == "orders-build"
    assert out["ProjectArn"] == f"{_arn('codebuild')}project/orders-build"
    assert (out["PipelineName"], out["PipelineVersion"]) == ("orders", "1")
    assert "orders-build" in codebuild.list_projects()["projects"]
    (project,) = codebuild.batch_get_projects(names=["orders-build"])["projects"]
    assert project["source"] == {"type": "CODEPIPELINE", "buildspec": "buildspecs/create.yml"}
    assert project["environment"]["type"] == "ARM_CONTAINER"
    assert project["environment"]["environmentVariables"] == [
        {"name": "ECS1_PROJECT", "value": "ecs1", "type": "PLAINTEXT"}
    ]
    assert project["timeoutInMinutes"] == 20
    assert "orders" in [p["name"] for p in codepipeline.list_pipelines()["pipelines"]]
    pipeline = codepipeline.get_pipeline(name="orders")["pipeline"]
    assert [stage["name"] for stage in pipeline["stages"]] == ["Source", "Build"]
    source_action = pipeline["stages"][0]["actions"][0]
    assert source_action["configuration"]["BranchName"] == "main", "configuration keys are kept as written"
    assert pipeline["stages"][1]["actions"][0]["configuration"] == {"ProjectName": "orders-build"}

    updated = outputs(deploy(cfn, name, _pipeline_template(timeout=30, branch="release"), kind="UPDATE"))

    assert updated["PipelineVersion"] == "2", "an updated pipeline keeps its name and gets a new version"
    assert codebuild.batch_get_projects(names=["orders-build"])["projects"][0]["timeoutInMinutes"] == 30
    pipeline = codepipeline.get_pipeline(name="orders")["pipeline"]
    assert pipeline["stages"][0]["actions"][0]["configuration"]["BranchName"] == "release"

    cfn.delete_stack(StackName=name)

    assert "orders-build" not in codebuild.list_projects()["projects"]
    assert "orders" not in [p["name"] for p in codepipeline.list_pipelines()["pipelines"]]


# --- Secrets Manager ----------------------------------------------------------------------------------------


def _secrets_template(description: str) -> dict[str, Any]:
    return {
        "Resources": {
            "JwtKey": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {
                    "Name": "orders/jwt-key",
                    "Description": description,
                    "GenerateSecretString": {"PasswordLength": 48, "ExcludePunctuation": True},
                },
            },
            "DbLogin": {
                "Type": "AWS::SecretsManager::Secret",
                "Properties": {
                    "GenerateSecretString": {
                        "SecretStringTemplate": json.dumps({"username": "app"}),
                        "GenerateStringKey": "password",
                    }
                },
            },
        },
        "Outputs": {
            "JwtKeyArn": {"Value": {"Ref": "JwtKey"}},
            "JwtKeyId": {"Value": {"Fn::GetAtt": ["JwtKey", "Id"]}},
            "DbLoginArn": {"Value": {"Ref": "DbLogin"}},
        },
    }


def test_secret_with_generated_value(cfn: Any, endpoint_url: str) -> None:
    secrets = client(endpoint_url, "secretsmanager")
    name = unique("secrets")
    out = outputs(deploy(cfn, name, _secrets_template("v1")))

    assert re.fullmatch(rf"{_arn('secretsmanager')}secret:orders/jwt-key-[A-Za-z0-9]{{6}}", out["JwtKeyArn"])
    assert out["JwtKeyId"] == out["JwtKeyArn"]
    assert secrets.describe_secret(SecretId=out["JwtKeyArn"])["Description"] == "v1"
    key = secrets.get_secret_value(SecretId=out["JwtKeyArn"])["SecretString"]
    assert len(key) == 48 and key.isalnum(), "the plain generated key, no JSON, no punctuation"
    login = json.loads(secrets.get_secret_value(SecretId=out["DbLoginArn"])["SecretString"])
    assert login["username"] == "app" and len(login["password"]) == 32

    deploy(cfn, name, _secrets_template("v2"), kind="UPDATE")

    assert secrets.describe_secret(SecretId=out["JwtKeyArn"])["Description"] == "v2"
    assert secrets.get_secret_value(SecretId=out["JwtKeyArn"])["SecretString"] == key, (
        "an update keeps the value"
    )

    cfn.delete_stack(StackName=name)

    for arn in (out["JwtKeyArn"], out["DbLoginArn"]):
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            secrets.describe_secret(SecretId=arn)


# --- ECS ---------------------------------------------------------------------------------------------------


def _ecs_template(cpu: str, memory: str) -> dict[str, Any]:
    template = _cloud_map_template(ttl=10, description="api")
    template["Resources"].update(
        {
            "Cluster": {
                "Type": "AWS::ECS::Cluster",
                "Properties": {
                    "ClusterName": "orders",
                    "CapacityProviders": ["FARGATE", "FARGATE_SPOT"],
                    "ClusterSettings": [{"Name": "containerInsights", "Value": "disabled"}],
                },
            },
            "TaskDefinition": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": "orders-api",
                    "Cpu": cpu,
                    "Memory": memory,
                    "NetworkMode": "awsvpc",
                    "RequiresCompatibilities": ["FARGATE"],
                    "RuntimePlatform": {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"},
                    "Volumes": [
                        {
                            "Name": "data",
                            "EFSVolumeConfiguration": {
                                "FilesystemId": "fs-12345678",
                                "TransitEncryption": "ENABLED",
                            },
                        }
                    ],
                    "ContainerDefinitions": [
                        {
                            "Name": "api",
                            "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ecs1:api-abc1234",
                            "PortMappings": [{"ContainerPort": 8000}],
                            "MountPoints": [{"SourceVolume": "data", "ContainerPath": "/data"}],
                            "LogConfiguration": {
                                "LogDriver": "awslogs",
                                "Options": {"awslogs-group": "/ecs/orders", "awslogs-region": REGION},
                            },
                        }
                    ],
                },
            },
            "EcsService": {
                "Type": "AWS::ECS::Service",
                "Properties": {
                    "ServiceName": "orders-api",
                    "Cluster": {"Ref": "Cluster"},
                    "TaskDefinition": {"Ref": "TaskDefinition"},
                    "DesiredCount": 1,
                    "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}],
                    "DeploymentConfiguration": {"MaximumPercent": 100, "MinimumHealthyPercent": 0},
                    "NetworkConfiguration": {
                        "AwsvpcConfiguration": {
                            "AssignPublicIp": "ENABLED",
                            "Subnets": [{"Ref": "Subnet"}],
                            "SecurityGroups": [{"Ref": "SecurityGroup"}],
                        }
                    },
                    "ServiceRegistries": [
                        {
                            "RegistryArn": {"Fn::GetAtt": ["Service", "Arn"]},
                            "ContainerName": "api",
                            "ContainerPort": 8000,
                        }
                    ],
                },
            },
        }
    )
    template["Outputs"].update(
        {
            "ClusterName": {"Value": {"Ref": "Cluster"}},
            "ClusterArn": {"Value": {"Fn::GetAtt": ["Cluster", "Arn"]}},
            "TaskDefinitionArn": {"Value": {"Ref": "TaskDefinition"}},
            "EcsServiceArn": {"Value": {"Ref": "EcsService"}},
            "EcsServiceName": {"Value": {"Fn::GetAtt": ["EcsService", "Name"]}},
        }
    )
    return template


def test_ecs_cluster_task_definition_and_service(cfn: Any, endpoint_url: str) -> None:
    ecs = client(endpoint_url, "ecs")
    name = unique("ecs")
    out = outputs(deploy(cfn, name, _ecs_template(cpu="256", memory="512")))

    assert out["ClusterName"] == "orders" and out["ClusterArn"] == f"{_arn('ecs')}cluster/orders"
    assert out["TaskDefinitionArn"] == f"{_arn('ecs')}task-definition/orders-api:1"
    assert out["EcsServiceName"] == "orders-api"
    assert out["EcsServiceArn"].startswith(_arn("ecs") + "service/")
    (cluster,) = ecs.describe_clusters(clusters=["orders"])["clusters"]
    assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    definition = ecs.describe_task_definition(taskDefinition=out["TaskDefinitionArn"])["taskDefinition"]
    assert (definition["cpu"], definition["memory"], definition["networkMode"]) == ("256", "512", "awsvpc")
    assert definition["runtimePlatform"] == {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}
    assert definition["volumes"][0]["efsVolumeConfiguration"]["fileSystemId"] == "fs-12345678"
    container = definition["containerDefinitions"][0]
    assert container["logConfiguration"]["options"]["awslogs-group"] == "/ecs/orders", "option names kept"
    (service,) = ecs.describe_services(cluster="orders", services=["orders-api"])["services"]
    assert service["taskDefinition"] == out["TaskDefinitionArn"]
    assert service["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    assert service["deploymentConfiguration"] == {"maximumPercent": 100, "minimumHealthyPercent": 0}
    assert service["serviceRegistries"][0]["registryArn"] == out["ServiceArn"]
    assert service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "ENABLED"

    updated = outputs(deploy(cfn, name, _ecs_template(cpu="512", memory="1024"), kind="UPDATE"))

    assert updated["TaskDefinitionArn"] == f"{_arn('ecs')}task-definition/orders-api:2", "a new revision"
    assert updated["EcsServiceArn"] == out["EcsServiceArn"], "the service is updated in place"
    (service,) = ecs.describe_services(cluster="orders", services=["orders-api"])["services"]
    assert service["taskDefinition"] == updated["TaskDefinitionArn"]
    old = ecs.describe_task_definition(taskDefinition=out["TaskDefinitionArn"])["taskDefinition"]
    assert old["status"] == "INACTIVE"

    cfn.delete_stack(StackName=name)

    (service,) = ecs.describe_services(cluster="orders", services=["orders-api"])["services"]
    assert service["status"] == "INACTIVE", "as in AWS, a deleted service is INACTIVE for a while"
    assert ecs.describe_clusters(clusters=["orders"])["clusters"][0]["status"] == "INACTIVE"
    latest = ecs.describe_task_definition(taskDefinition=updated["TaskDefinitionArn"])["taskDefinition"]
    assert latest["status"] == "INACTIVE"


# --- networking, IAM, Lambda and S3 pieces moto creates but never deletes ----------------------------------


def _network_template() -> dict[str, Any]:
    resources = vpc_resources("10.7.0.0/16", "10.7.0.0/24")
    resources.update(
        {
            "Gateway": {"Type": "AWS::EC2::InternetGateway"},
            "Attachment": {
                "Type": "AWS::EC2::VPCGatewayAttachment",
                "Properties": {"VpcId": {"Ref": "Vpc"}, "InternetGatewayId": {"Ref": "Gateway"}},
            },
            "RouteTable": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}},
            "DefaultRoute": {
                "Type": "AWS::EC2::Route",
                "DependsOn": "Attachment",
                "Properties": {
                    "RouteTableId": {"Ref": "RouteTable"},
                    "DestinationCidrBlock": "0.0.0.0/0",
                    "GatewayId": {"Ref": "Gateway"},
                },
            },
            "Association": {
                "Type": "AWS::EC2::SubnetRouteTableAssociation",
                "Properties": {"SubnetId": {"Ref": "Subnet"}, "RouteTableId": {"Ref": "RouteTable"}},
            },
            "Endpoint": {
                "Type": "AWS::EC2::VPCEndpoint",
                "Properties": {
                    "VpcId": {"Ref": "Vpc"},
                    "ServiceName": f"com.amazonaws.{REGION}.s3",
                    "VpcEndpointType": "Gateway",
                    "RouteTableIds": [{"Ref": "RouteTable"}],
                },
            },
            "Peer": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {"GroupDescription": "peer", "VpcId": {"Ref": "Vpc"}},
            },
            "IngressFromPeer": {
                "Type": "AWS::EC2::SecurityGroupIngress",
                "Properties": {
                    "GroupId": {"Ref": "SecurityGroup"},
                    "IpProtocol": "tcp",
                    "FromPort": 8000,
                    "ToPort": 8000,
                    "SourceSecurityGroupId": {"Ref": "Peer"},
                },
            },
            "EgressToPeer": {
                "Type": "AWS::EC2::SecurityGroupEgress",
                "Properties": {
                    "GroupId": {"Ref": "SecurityGroup"},
                    "IpProtocol": "tcp",
                    "FromPort": 2049,
                    "ToPort": 2049,
                    "DestinationSecurityGroupId": {"Ref": "Peer"},
                },
            },
            "Role": _role("ecs-tasks.amazonaws.com"),
            "RolePolicy": {
                "Type": "AWS::IAM::RolePolicy",
                "Properties": {
                    "RoleName": {"Ref": "Role"},
                    "PolicyName": "read-bucket",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
                    },
                },
            },
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "BucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "Bucket"},
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": {"Fn::Sub": "arn:aws:s3:::${Bucket}/*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    },
                },
            },
        }
    )
    return {
        "Resources": resources,
        "Outputs": {
            "VpcId": {"Value": {"Ref": "Vpc"}},
            "AssociationId": {"Value": {"Ref": "Association"}},
            "RouteTableId": {"Value": {"Ref": "RouteTable"}},
            "RoleName": {"Value": {"Ref": "Role"}},
            "Bucket": {"Value": {"Ref": "Bucket"}},
        },
    }


def test_network_role_policy_and_bucket_policy_are_really_made_and_deleted(
    cfn: Any, endpoint_url: str
) -> None:
    ec2 = client(endpoint_url, "ec2")
    iam = client(endpoint_url, "iam")
    s3 = client(endpoint_url, "s3")
    name = unique("network")
    out = outputs(deploy(cfn, name, _network_template()))

    assert re.fullmatch(r"rtbassoc-[0-9a-f]+", out["AssociationId"])
    vpc_filter = [{"Name": "vpc-id", "Values": [out["VpcId"]]}]
    (table,) = ec2.describe_route_tables(RouteTableIds=[out["RouteTableId"]])["RouteTables"]
    assert [a["RouteTableAssociationId"] for a in table["Associations"]] == [out["AssociationId"]]
    assert {"0.0.0.0/0"} <= {r.get("DestinationCidrBlock") for r in table["Routes"]}
    assert ec2.describe_vpc_endpoints(Filters=vpc_filter)["VpcEndpoints"][0]["ServiceName"].endswith(".s3")
    policy = iam.get_role_policy(RoleName=out["RoleName"], PolicyName="read-bucket")
    assert policy["PolicyDocument"]["Statement"][0]["Action"] == "s3:GetObject"
    bucket_policy = json.loads(s3.get_bucket_policy(Bucket=out["Bucket"])["Policy"])
    assert bucket_policy["Statement"][0]["Effect"] == "Deny"

    stack_id = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName=name)

    assert cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert out["VpcId"] not in [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    assert [
        g
        for g in ec2.describe_internet_gateways()["InternetGateways"]
        if g["Attachments"] and g["Attachments"][0]["VpcId"] == out["VpcId"]
    ] == []
    assert out["RoleName"] not in [r["RoleName"] for r in iam.list_roles()["Roles"]]


def test_log_group_retention_changes_in_place(cfn: Any, endpoint_url: str) -> None:
    logs = client(endpoint_url, "logs")
    name = unique("logs")

    def template(days: int) -> dict[str, Any]:
        return {
            "Resources": {
                "Group": {
                    "Type": "AWS::Logs::LogGroup",
                    "Properties": {"LogGroupName": f"/ecs/{name}", "RetentionInDays": days},
                }
            }
        }

    deploy(cfn, name, template(14))
    stack = deploy(cfn, name, template(30), kind="UPDATE")

    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    (group,) = logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{name}")["logGroups"]
    assert group["retentionInDays"] == 30
    cfn.delete_stack(StackName=name)
    assert logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{name}")["logGroups"] == []


def _file_system_template(backup: str, encrypted: bool) -> dict[str, Any]:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "elasticfilesystem:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    return {
        "Resources": {
            "FileSystem": {
                "Type": "AWS::EFS::FileSystem",
                "DeletionPolicy": "Delete",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "Encrypted": encrypted,
                    "BackupPolicy": {"Status": backup},
                    "FileSystemPolicy": policy,
                },
            }
        },
        "Outputs": {
            "Id": {"Value": {"Ref": "FileSystem"}},
            "Arn": {"Value": {"Fn::GetAtt": ["FileSystem", "Arn"]}},
        },
    }


def test_file_system_policy_in_place_update_and_retained_replacement(cfn: Any, endpoint_url: str) -> None:
    efs = client(endpoint_url, "efs")
    name = unique("efs")
    first = outputs(deploy(cfn, name, _file_system_template("ENABLED", encrypted=False)))

    assert re.fullmatch(r"fs-[0-9a-f]{8,17}", first["Id"])
    assert first["Arn"] == f"{_arn('elasticfilesystem')}file-system/{first['Id']}"
    policy = json.loads(efs.describe_file_system_policy(FileSystemId=first["Id"])["Policy"])
    assert policy["Statement"][0]["Effect"] == "Deny"
    assert efs.describe_backup_policy(FileSystemId=first["Id"])["BackupPolicy"]["Status"] == "ENABLED"

    in_place = outputs(deploy(cfn, name, _file_system_template("DISABLED", encrypted=False), kind="UPDATE"))

    assert in_place["Id"] == first["Id"], "the backup policy changes in place"
    with pytest.raises(ClientError, match="PolicyNotFound"):
        efs.describe_backup_policy(FileSystemId=first["Id"])

    replaced = outputs(deploy(cfn, name, _file_system_template("DISABLED", encrypted=True), kind="UPDATE"))

    assert replaced["Id"] != first["Id"], "encryption cannot change in place: a new file system"
    assert efs.describe_file_systems(FileSystemId=replaced["Id"])["FileSystems"][0]["Encrypted"] is True
    assert efs.describe_file_systems(FileSystemId=first["Id"])["FileSystems"], "UpdateReplacePolicy: Retain"

    cfn.delete_stack(StackName=name)

    remaining = {fs["FileSystemId"] for fs in efs.describe_file_systems()["FileSystems"]}
    assert replaced["Id"] not in remaining and first["Id"] in remaining
    efs.delete_file_system(FileSystemId=first["Id"])


def test_unsupported_types_lists_what_moto_would_skip() -> None:
    template = {
        "Resources": {
            "Api": {"Type": "AWS::ApiGatewayV2::Api"},
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Alarm": {"Type": "AWS::CloudWatch::Alarm"},
            "Wait": {"Type": "AWS::CloudFormation::WaitCondition"},
            "Custom": {"Type": "Custom::Seed"},
        }
    }
    assert local_aws.unsupported_types(copy.deepcopy(template)) == [
        "AWS::CloudFormation::WaitCondition",
        "AWS::CloudWatch::Alarm",
        "Custom::Seed",
    ]
