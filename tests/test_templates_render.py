"""`invoke render`: the files it writes, determinism and errors, and the shape of the stacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.templates_support import (
    CONFIGS,
    DEFAULT_IN_EVERY_REGION,
    PROJECT_ROOT,
    TEMPLATE_NAMES,
    load,
    resources_of_type,
)
from troposphere_templates.config import VPC_LINK_ZONE_IDS, ConfigError, ProjectConfig

INVOKE = [sys.executable, "-m", "invoke"]


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    result = subprocess.run(
        [*INVOKE, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    return result, time.perf_counter() - started


@pytest.mark.slow
def test_render_writes_every_template_and_says_so(tmp_path: Path) -> None:
    result, _ = invoke("render", "--out", str(tmp_path), "--image-tag", "abc1234")
    assert result.returncode == 0, result.stderr
    expected = [*TEMPLATE_NAMES, "app-config.json"]
    for name in expected:
        assert f"wrote {tmp_path / name}" in result.stdout
        json.loads((tmp_path / name).read_text())
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(expected)
    assert result.stdout.splitlines()[-1].startswith("rendered ecs1-app (ARM64 256/512, FARGATE")


@pytest.mark.slow
def test_two_renders_are_byte_identical_across_hash_seeds_and_with_or_without_the_route_cache(
    tmp_path: Path,
) -> None:
    """The first render finds no cached route table (it reads the app's routers and keeps them), the second
    reads the cache: what they write is the same, byte for byte."""
    cache = tmp_path / "cache"
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        result, _ = invoke(
            "render",
            "--out",
            str(out),
            "--image-tag",
            "abc1234",
            env={"PYTHONHASHSEED": seed, "XDG_CACHE_HOME": str(cache)},
        )
        assert result.returncode == 0, result.stderr
        outputs.append({path.name: path.read_bytes() for path in sorted(out.iterdir())})
        assert len(list((cache / "ecs1").glob("routes-*.json"))) == 1
    assert outputs[0] == outputs[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cpu", "300"], "error: Fargate has no size cpu=300 memory=512"),
        (["--architecture", "arm"], "error: architecture must be ARM64 or X86_64, not 'ARM'"),
        (["--capacity-provider", "spot"], "error: capacity provider must be one of FARGATE/FARGATE_SPOT"),
        (["--github-repo", "just-a-name"], "error: GitHub repository must look like owner/name"),
        (
            ["--region", "ap-south-2"],
            "error: --region ap-south-2: API Gateway supports HTTP API VPC links in",
        ),
    ],
)
def test_bad_options_are_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    result, _ = invoke("render", "--out", str(tmp_path), *args)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_options_reach_the_templates(tmp_path: Path) -> None:
    result, _ = invoke(
        "render",
        "--out",
        str(tmp_path),
        "--architecture",
        "x86_64",
        "--cpu",
        "512",
        "--memory",
        "1024",
        "--capacity-provider",
        "fargate_spot",
        "--image-tag",
        "feedbee",
        "--ecr-repository",
        "myrepo",
        "--github-repo",
        "me/fork",
        "--branch",
        "release",
        "--connection-arn",
        "arn:aws:codestar-connections:eu-west-1:123456789012:connection/abc",
        "--artifact-bucket",
        "my-artifacts",
        "--region",
        "eu-west-1",
    )
    assert result.returncode == 0, result.stderr
    app = json.loads((tmp_path / "app.json").read_text())
    (task,) = resources_of_type(app, "AWS::ECS::TaskDefinition").values()
    assert (task["Properties"]["Cpu"], task["Properties"]["Memory"]) == ("512", "1024")
    assert task["Properties"]["RuntimePlatform"]["CpuArchitecture"] == "X86_64"
    assert "/myrepo:api-${ApiImageTag}" in task["Properties"]["ContainerDefinitions"][0]["Image"]["Fn::Sub"]
    config = json.loads((tmp_path / "app-config.json").read_text())
    assert config["Parameters"] == {
        "AdminUsername": "admin",
        "CapacityProvider": "FARGATE_SPOT",
        "ApiImageTag": "feedbee",
        "AuthorizerImageTag": "feedbee",
    }
    pipeline = json.loads((tmp_path / "update-pipeline.json").read_text())
    parameters = {name: p.get("Default") for name, p in pipeline["Parameters"].items()}
    assert parameters == {
        "ArtifactBucketName": "my-artifacts",
        "Branch": "release",
        "ConnectionArn": "arn:aws:codestar-connections:eu-west-1:123456789012:connection/abc",
        "GitHubRepository": "me/fork",
    }
    (project,) = resources_of_type(pipeline, "AWS::CodeBuild::Project").values()
    assert project["Properties"]["Environment"]["Type"] == "LINUX_CONTAINER"


def test_config_from_env_is_what_the_pipeline_builds_render_with() -> None:
    config = ProjectConfig.from_env(
        {
            "ECS1_CPU": "1024",
            "ECS1_MEMORY": "2048",
            "ECS1_ARCHITECTURE": "X86_64",
            "ECS1_INTERFACE_ENDPOINTS": "logs",
        }
    )
    assert (config.cpu, config.memory, config.architecture, config.interface_endpoints) == (
        1024,
        2048,
        "X86_64",
        ("logs",),
    )
    with pytest.raises(ConfigError, match="ECS1_CPU must be a whole number"):
        ProjectConfig.from_env({"ECS1_CPU": "lots"})
    # The build projects set every ECS1_* variable the render needs, from the config they were rendered with.
    (project,) = resources_of_type(
        load("original", "create-pipeline.json"), "AWS::CodeBuild::Project"
    ).values()
    variables = {v["Name"]: v["Value"] for v in project["Properties"]["Environment"]["EnvironmentVariables"]}
    from_build = ProjectConfig.from_env({k: v for k, v in variables.items() if isinstance(v, str)})
    original = CONFIGS["original"]
    assert (from_build.cpu, from_build.memory, from_build.architecture) == (1024, 3072, "X86_64")
    assert from_build.ecr_repository == original.ecr_repository


def test_names_agree_with_the_other_parts() -> None:
    config = ProjectConfig()
    assert config.app_stack == "ecs1-app"
    assert config.pipeline_stacks == {
        "create": "ecs1-create-pipeline",
        "update": "ecs1-update-pipeline",
        "update-lambda": "ecs1-update-lambda-pipeline",
    }
    assert config.ecr_repository == "ecs1"
    assert config.default_artifact_bucket("123456789012") == "ecs1-artifacts-123456789012-us-east-1"
    pipeline = load("default", "create-pipeline.json")
    assert pipeline["Conditions"]["DefaultArtifactBucket"] == {
        "Fn::Equals": [{"Ref": "ArtifactBucketName"}, ""]
    }


@pytest.mark.parametrize("config", DEFAULT_IN_EVERY_REGION)
def test_app_stack_follows_the_design(config: str) -> None:
    app = load(config)
    kinds = {resource["Type"] for resource in app["Resources"].values()}
    assert "AWS::CloudFormation::Stack" not in kinds  # one stack, no nested stacks
    assert not kinds & {"AWS::EC2::NatGateway", "AWS::ElasticLoadBalancingV2::LoadBalancer"}
    assert len(resources_of_type(app, "AWS::EC2::Subnet")) == 1
    (endpoint,) = resources_of_type(app, "AWS::EC2::VPCEndpoint").values()
    assert endpoint["Properties"]["VpcEndpointType"] == "Gateway"
    (service,) = resources_of_type(app, "AWS::ECS::Service").values()
    properties = service["Properties"]
    # One writer on the SQLite file: never two tasks at once.
    assert properties["DeploymentConfiguration"]["MaximumPercent"] == 100
    assert properties["DeploymentConfiguration"]["MinimumHealthyPercent"] == 0
    assert properties["DesiredCount"] == 1
    assert properties["CapacityProviderStrategy"] == [
        {"CapacityProvider": {"Ref": "CapacityProvider"}, "Weight": 1}
    ]
    assert properties["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "ENABLED"
    (registry,) = properties["ServiceRegistries"]
    assert registry["ContainerName"] == "api" and registry["ContainerPort"] == 8000
    (discovery,) = resources_of_type(app, "AWS::ServiceDiscovery::Service").values()
    assert discovery["Properties"]["DnsConfig"]["DnsRecords"] == [{"TTL": 10, "Type": "SRV"}]
    (integration,) = resources_of_type(app, "AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["IntegrationType"] == "HTTP_PROXY"
    assert integration["Properties"]["ConnectionType"] == "VPC_LINK"
    assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": ["DiscoveryService", "Arn"]}
    (stage,) = resources_of_type(app, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["StageName"] == "$default" and stage["Properties"]["AutoDeploy"] is True
    json.loads(stage["Properties"]["AccessLogSettings"]["Format"])  # JSON access logs
    for group in resources_of_type(app, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 14
    (task,) = resources_of_type(app, "AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert container["MountPoints"] == [{"ContainerPath": "/data", "ReadOnly": False, "SourceVolume": "data"}]
    assert {"Name": "DATABASE_URL", "Value": "sqlite+aiosqlite:////data/app.db"} in container["Environment"]
    assert "/health" in container["HealthCheck"]["Command"][-1]
    assert set(app["Outputs"]) >= {
        "ApiUrl",
        "ClusterName",
        "ServiceName",
        "AuthorizerFunctionName",
        "JwtSecretArn",
    }


@pytest.mark.parametrize("config", DEFAULT_IN_EVERY_REGION)
def test_the_vpc_link_subnet_is_placed_by_a_zone_id_that_http_api_vpc_links_support(config: str) -> None:
    app = load(config)
    ((subnet_id, subnet),) = resources_of_type(app, "AWS::EC2::Subnet").items()
    zone_id = subnet["Properties"]["AvailabilityZoneId"]
    assert zone_id in VPC_LINK_ZONE_IDS[CONFIGS[config].region]
    assert zone_id != "use1-az3"  # the one us-east-1 zone the developer guide leaves out
    assert "AvailabilityZone" not in subnet["Properties"], "a zone name maps to different zones per account"
    (vpc_link,) = resources_of_type(app, "AWS::ApiGatewayV2::VpcLink").values()
    assert vpc_link["Properties"]["SubnetIds"] == [{"Ref": subnet_id}]


@pytest.mark.parametrize(
    ("config", "environment_type"), [("default", "ARM_CONTAINER"), ("original", "LINUX_CONTAINER")]
)
def test_pipelines_build_on_the_tasks_architecture(config: str, environment_type: str) -> None:
    for kind in CONFIGS[config].pipeline_stacks:
        template = load(config, f"{kind}-pipeline.json")
        (project,) = resources_of_type(template, "AWS::CodeBuild::Project").values()
        environment = project["Properties"]["Environment"]
        assert environment["Type"] == environment_type
        assert ("aarch64" in environment["Image"]) == (environment_type == "ARM_CONTAINER")
        # Only the builds that run docker get its daemon.
        assert environment["PrivilegedMode"] is (kind != "create")
        (pipeline,) = resources_of_type(template, "AWS::CodePipeline::Pipeline").values()
        assert pipeline["Properties"]["PipelineType"] == "V2"
        source = pipeline["Properties"]["Stages"][0]["Actions"][0]
        assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
        assert source["Configuration"]["ConnectionArn"] == {"Ref": "ConnectionArn"}


@pytest.mark.parametrize("config", DEFAULT_IN_EVERY_REGION)
def test_each_pipeline_builds_and_deploys_in_one_codebuild_action_through_the_app_stack(config: str) -> None:
    """Every pipeline changes the app stack only through invoke tasks that use change sets: the template
    (create, keeping the images) or one image parameter (update, update-lambda)."""
    expected = {
        "create": ["invoke deploy --stack app --keep-images"],
        "update": ["invoke build --missing-only", "invoke push", "invoke deploy-image --target api"],
        "update-lambda": [
            "invoke build --missing-only",
            "invoke push",
            "invoke deploy-image --target authorizer",
        ],
    }
    for kind in ProjectConfig().pipeline_stacks:
        template = load(config, f"{kind}-pipeline.json")
        (pipeline,) = resources_of_type(template, "AWS::CodePipeline::Pipeline").values()
        stages = {stage["Name"]: stage["Actions"] for stage in pipeline["Properties"]["Stages"]}
        assert list(stages) == ["Source", "Deploy"]
        [action] = stages["Deploy"]
        assert action["ActionTypeId"]["Provider"] == "CodeBuild"
        (project,) = resources_of_type(template, "AWS::CodeBuild::Project").values()
        buildspec = yaml.safe_load((PROJECT_ROOT / project["Properties"]["Source"]["BuildSpec"]).read_text())
        commands = [c for c in buildspec["phases"]["build"]["commands"] if not c.startswith("export ")]
        assert len(commands) == len(expected[kind]), kind
        assert all(c.startswith(prefix) for c, prefix in zip(commands, expected[kind], strict=True)), kind
        assert buildspec["phases"]["install"]["commands"][-1] == "python -m pip install --quiet -e ."
