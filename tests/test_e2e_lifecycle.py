"""The lifecycle against the local AWS emulator: render -> deploy -> inspect -> redeploy -> change -> clean.

Real parts: the rendered templates, `invoke deploy`/`invoke clean` run as a user runs them (subprocesses with
AWS_ENDPOINT_URL set), real HTTP to `local_aws` (moto's server on 127.0.0.1 with the project's emulations).
What cannot exist here: an AWS account (the emulator stands in) and a Docker engine, so the test registers
image manifests for `api-<tag>` and `authorizer-<tag>` in the emulator's ECR with `put_image`; deploy then
finds the tags it needs and does not try to build.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import local_aws
from app.api.route_table import route_table
from tests.lifecycle_support import (
    ACCOUNT_ID,
    BUCKET,
    PROJECT_ROOT,
    REGION,
    TAG,
    client,
    invoke,
    last_line,
    live_stacks,
    register_images,
)

CONNECTION_ARN = (
    f"arn:aws:codeconnections:{REGION}:{ACCOUNT_ID}:connection/0b5c5a1e-0000-4000-8000-000000000000"
)
STACKS = ["ecs1-app", "ecs1-create-pipeline", "ecs1-update-pipeline", "ecs1-update-lambda-pipeline"]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with local_aws.running() as url:
        yield url


def assert_app_resources_as_templated(endpoint: str, cpu: str = "256", memory: str = "512") -> dict:
    ec2 = client(endpoint, "ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/16"]}])["Vpcs"]
    assert len(vpcs) == 1
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}])["Subnets"]
    assert [s["CidrBlock"] for s in subnets] == ["10.0.0.0/24"]

    ecs = client(endpoint, "ecs")
    assert [c["status"] for c in ecs.describe_clusters(clusters=["ecs1-cluster"])["clusters"]] == ["ACTIVE"]
    service = ecs.describe_services(cluster="ecs1-cluster", services=["ecs1-api"])["services"][0]
    assert service["desiredCount"] == 1
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    assert (task["cpu"], task["memory"]) == (cpu, memory)
    container = task["containerDefinitions"][0]
    assert container["image"].endswith(f"/ecs1:api-{TAG}")
    assert {s["name"] for s in container["secrets"]} == {"JWT_SECRET_KEY", "ADMIN_PASSWORD"}

    gateway = client(endpoint, "apigatewayv2")
    apis = gateway.get_apis()["Items"]
    assert [a["Name"] for a in apis] == ["ecs1-api"]
    api_id = apis[0]["ApiId"]
    routes = gateway.get_routes(ApiId=api_id)["Items"]
    assert sorted(r["RouteKey"] for r in routes) == sorted(spec.route_key for spec in route_table())
    protected = {spec.route_key for spec in route_table() if spec.protected}
    authorizer_ids = set()
    for route in routes:
        expected = "CUSTOM" if route["RouteKey"] in protected else "NONE"
        assert route.get("AuthorizationType", "NONE") == expected, route["RouteKey"]
        if expected == "CUSTOM":
            authorizer_ids.add(route["AuthorizerId"])
    # moto has no GetAuthorizers: the one authorizer is read through the id the protected routes share.
    assert len(authorizer_ids) == 1
    authorizer = gateway.get_authorizer(ApiId=api_id, AuthorizerId=authorizer_ids.pop())
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"

    pipelines = client(endpoint, "codepipeline").list_pipelines()["pipelines"]
    assert sorted(p["name"] for p in pipelines) == ["ecs1-create", "ecs1-update", "ecs1-update-lambda"]
    secrets = client(endpoint, "secretsmanager")
    for name in ("ecs1/jwt-secret-key", "ecs1/admin-password"):
        assert secrets.describe_secret(SecretId=name)["Name"] == name
    return {"api_endpoint": apis[0]["ApiEndpoint"], "service": service, "task": task}


def assert_laptop_and_pipeline_paths_converge(endpoint: str, templates: Path) -> None:
    """The laptop deployed ecs1-app from app.json with app-config.json's parameters, through the create
    pipeline's CloudFormation role: what that pipeline's build does with `invoke deploy --stack app`."""
    cfn = client(endpoint, "cloudformation")
    deployed = cfn.get_template(StackName="ecs1-app", TemplateStage="Original")["TemplateBody"]
    assert deployed == json.loads((templates / "app.json").read_text())
    stack = cfn.describe_stacks(StackName="ecs1-app")["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters == json.loads((templates / "app-config.json").read_text())["Parameters"]
    create = cfn.describe_stacks(StackName="ecs1-create-pipeline")["Stacks"][0]
    assert (
        stack["RoleARN"]
        == {o["OutputKey"]: o["OutputValue"] for o in create["Outputs"]}["CloudFormationRoleArn"]
    )

    pipeline = client(endpoint, "codepipeline").get_pipeline(name="ecs1-create")["pipeline"]
    actions = [a for stage in pipeline["stages"] for a in stage["actions"]]
    [build] = [a for a in actions if a["actionTypeId"]["provider"] == "CodeBuild"]
    assert build["configuration"]["ProjectName"] == "ecs1-create-build"
    buildspec = yaml.safe_load((PROJECT_ROOT / "buildspecs" / "create.yml").read_text())
    assert any(
        command.startswith("invoke deploy --stack app ")
        for command in buildspec["phases"]["build"]["commands"]
    )


def test_render_deploy_redeploy_change_clean(endpoint, tmp_path):
    register_images(endpoint)
    out = str(tmp_path / "templates")
    options = ["--image-tag", TAG, "--connection-arn", CONNECTION_ARN, "--out", out]

    first, first_seconds = invoke(endpoint, "deploy", *options)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "ecs1-app: creating" in first.stdout and "CREATE_COMPLETE" in first.stdout
    assert live_stacks(endpoint) == dict.fromkeys(STACKS, "CREATE_COMPLETE")
    deployed = assert_app_resources_as_templated(endpoint)
    assert last_line(first).startswith("deploy succeeded in ")
    assert last_line(first).endswith(
        f"API URL: {deployed['api_endpoint']} (made up by the local emulator: nothing answers there)"
    )

    assert_laptop_and_pipeline_paths_converge(endpoint, Path(out))

    second, second_seconds = invoke(endpoint, "deploy", *options)
    assert second.returncode == 0, second.stdout + second.stderr
    all_four = "ecs1-create-pipeline, ecs1-update-pipeline, ecs1-update-lambda-pipeline, ecs1-app"
    assert f"(up to date: {all_four})" in last_line(second)
    assert second_seconds < max(10.0, first_seconds), (first_seconds, second_seconds)
    print(f"first deploy {first_seconds:.1f}s, unchanged redeploy {second_seconds:.1f}s")

    bigger, _ = invoke(endpoint, "deploy", "--stack", "app", "--cpu", "512", "--memory", "1024", *options)
    assert bigger.returncode == 0, bigger.stdout + bigger.stderr
    assert "(updated: ecs1-app)" in last_line(bigger)
    resized = assert_app_resources_as_templated(endpoint, cpu="512", memory="1024")
    assert resized["task"]["revision"] == deployed["task"]["revision"] + 1
    assert resized["service"]["taskDefinition"] == resized["task"]["taskDefinitionArn"]
    assert resized["service"]["serviceArn"] == deployed["service"]["serviceArn"], "updated in place"

    refused, _ = invoke(endpoint, "clean")
    assert refused.returncode == 1
    assert (
        refused.stderr.strip()
        == "error: refusing to delete without confirmation: no terminal to ask on; pass --yes"
    )
    assert len(live_stacks(endpoint)) == 4

    cleaned, clean_seconds = invoke(endpoint, "clean", "--yes")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert last_line(cleaned) == (
        f"clean complete: stack {', stack '.join(STACKS)}, ECR repository ecs1, bucket {BUCKET}; "
        f"still there (delete it by hand in the console if unused): the GitHub connection {CONNECTION_ARN}"
    )
    assert live_stacks(endpoint) == {}
    assert client(endpoint, "ecr").describe_repositories()["repositories"] == []
    assert BUCKET not in [b["Name"] for b in client(endpoint, "s3").list_buckets()["Buckets"]]
    assert client(endpoint, "apigatewayv2").get_apis()["Items"] == []
    assert client(endpoint, "codepipeline").list_pipelines()["pipelines"] == []
    clusters = client(endpoint, "ecs").describe_clusters(clusters=["ecs1-cluster"])["clusters"]
    assert all(c["status"] == "INACTIVE" for c in clusters)
    assert client(endpoint, "secretsmanager").list_secrets()["SecretList"] == []

    again, _ = invoke(endpoint, "clean", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("nothing to delete") == 6
    assert last_line(again).startswith("clean complete: nothing was left to delete;")
    print(f"clean {clean_seconds:.1f}s")


def test_stand_in_images_let_a_user_try_the_lifecycle_without_docker(endpoint, tmp_path):
    """The README's way to try deploy without an AWS account or Docker: `--stand-in-images`."""
    options = ("--stack", "app", "--image-tag", "trial", "--out", str(tmp_path))
    deployed, _ = invoke(endpoint, "deploy", "--stand-in-images", *options)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "stand-in image registered" in deployed.stdout
    assert last_line(deployed).startswith("deploy succeeded")
    tags = {i["imageTag"] for i in client(endpoint, "ecr").list_images(repositoryName="ecs1")["imageIds"]}
    assert {"api-trial", "authorizer-trial"} <= tags
    cleaned, _ = invoke(endpoint, "clean", "--yes")
    assert cleaned.returncode == 0 and live_stacks(endpoint) == {}


def test_stand_in_images_refuse_an_endpoint_that_is_not_this_machine():
    from lifecycle.aws import Aws
    from lifecycle.deploy import register_stand_in_images
    from lifecycle.errors import LifecycleError
    from lifecycle.progress import Progress

    aws = Aws(region=REGION, endpoint_url="https://ecr.example.com")
    with pytest.raises(LifecycleError, match="local emulator only"):
        register_stand_in_images(aws, "ecs1", ["api-x"], Progress())
