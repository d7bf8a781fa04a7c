"""The project's own rendered templates on the emulator, and the `invoke local-aws` command as a user runs it.

The templates are rendered by troposphere_templates.render.render_all into a temporary folder and deployed
through moto's real server on 127.0.0.1 (no AWS account is reachable here); the command runs as a real
process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import local_aws
from tests.local_aws_support import client, deploy, outputs, status
from tests.support import as_in_a_terminal

pytestmark = pytest.mark.slow  # see conftest.py (deploys stacks on the emulator)

render = pytest.importorskip(
    "troposphere_templates.render", reason="troposphere_templates.render (invoke render) is not written yet"
)
from troposphere_templates.config import ProjectConfig  # noqa: E402

CONNECTION_ARN = "arn:aws:codestar-connections:us-east-1:123456789012:connection/local-test"
REPO_ROOT = Path(__file__).resolve().parent.parent


def _render(out_dir: Path, **options: Any) -> dict[str, dict[str, Any]]:
    config = ProjectConfig(image_tag="abc1234", connection_arn=CONNECTION_ARN, **options)
    render.render_all(config, out_dir)
    return {path.name: json.loads(path.read_text()) for path in sorted(out_dir.glob("*.json"))}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return _render(tmp_path_factory.mktemp("templates"))


@pytest.fixture(scope="module")
def endpoint_url() -> Iterator[str]:
    with local_aws.running() as url:
        yield url


def _stack_templates(rendered: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: template for name, template in rendered.items() if "Resources" in template}


def test_every_rendered_template_uses_only_types_the_emulator_handles(
    rendered: dict[str, dict[str, Any]],
) -> None:
    templates = _stack_templates(rendered)

    assert set(templates) >= {
        "app.json",
        "create-pipeline.json",
        "update-pipeline.json",
        "update-lambda-pipeline.json",
    }
    assert {name: local_aws.unsupported_types(template) for name, template in templates.items()} == {
        name: [] for name in templates
    }


def _parameters(template: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in given.items() if key in template.get("Parameters", {})}


def test_rendered_stacks_deploy_update_and_delete_leaving_nothing(
    rendered: dict[str, dict[str, Any]], endpoint_url: str, tmp_path: Path
) -> None:
    cfn = client(endpoint_url, "cloudformation")
    app = rendered["app.json"]
    app_parameters = rendered["app-config.json"]["Parameters"]
    pipeline_parameters = {"ConnectionArn": CONNECTION_ARN}
    pipelines = {
        f"ecs1-{name.removesuffix('.json')}": t for name, t in rendered.items() if "pipeline" in name
    }

    stack_ids = []
    for stack, template in pipelines.items():
        deployed = deploy(cfn, stack, template, _parameters(template, pipeline_parameters))
        assert deployed["StackStatus"] == "CREATE_COMPLETE", stack
        stack_ids.append(deployed["StackId"])
    deployed = deploy(cfn, "ecs1-app", app, app_parameters)
    assert deployed["StackStatus"] == "CREATE_COMPLETE"
    stack_ids.append(deployed["StackId"])

    api_url = outputs(deployed)["ApiUrl"]
    api_id = re.fullmatch(r"https://([a-z0-9]+)\.execute-api\.us-east-1\.amazonaws\.com", api_url).group(1)
    apigw = client(endpoint_url, "apigatewayv2")
    route_keys = {r["RouteKey"] for r in apigw.get_routes(ApiId=api_id)["Items"]}
    assert {"GET /health", "POST /auth/token", "GET /location/history"} <= route_keys
    assert len(client(endpoint_url, "codepipeline").list_pipelines()["pipelines"]) == 3
    ecs = client(endpoint_url, "ecs")
    cluster = outputs(deployed)["ClusterName"]
    (service,) = ecs.describe_services(cluster=cluster, services=[outputs(deployed)["ServiceName"]])[
        "services"
    ]
    first_revision = service["taskDefinition"]

    resized = _render(tmp_path, cpu=512, memory=1024)["app.json"]
    assert deploy(cfn, "ecs1-app", resized, app_parameters, kind="UPDATE")["StackStatus"] == "UPDATE_COMPLETE"
    (service,) = ecs.describe_services(cluster=cluster, services=[service["serviceName"]])["services"]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    assert service["taskDefinition"] != first_revision
    assert (definition["cpu"], definition["memory"]) == ("512", "1024")

    for stack in ["ecs1-app", *pipelines]:
        cfn.delete_stack(StackName=stack)

    assert [status(cfn, stack_id) for stack_id in stack_ids] == ["DELETE_COMPLETE"] * len(stack_ids)
    assert apigw.get_apis()["Items"] == []
    assert [v for v in client(endpoint_url, "ec2").describe_vpcs()["Vpcs"] if not v["IsDefault"]] == []
    assert client(endpoint_url, "servicediscovery").list_namespaces()["Namespaces"] == []
    assert client(endpoint_url, "codepipeline").list_pipelines()["pipelines"] == []
    assert client(endpoint_url, "codebuild").list_projects()["projects"] == []
    assert client(endpoint_url, "secretsmanager").list_secrets()["SecretList"] == []
    assert client(endpoint_url, "efs").describe_file_systems()["FileSystems"] == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_invoke_local_aws_serves_until_stopped(stop_signal: signal.Signals) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "local-aws", "--port", str(port)],
        preexec_fn=as_in_a_terminal,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = [process.stdout.readline() for _ in range(7)]
        endpoint = f"http://127.0.0.1:{port}"
        assert f"listening on {endpoint}\n" in banner[0]
        assert banner[2].strip() == (
            f"export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
            "AWS_DEFAULT_REGION=us-east-1"
        )
        assert [line.strip() for line in banner[4:6]] == [
            f"invoke deploy --stand-in-images --connection-arn {local_aws.LOCAL_CONNECTION_ARN}",
            "invoke clean --yes",
        ]
        assert client(endpoint, "cloudformation").list_stacks()["StackSummaries"] == []

        taken = subprocess.run(
            [sys.executable, "-m", "invoke", "local-aws", "--port", str(port)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert taken.returncode != 0
        assert taken.stdout == ""
        assert taken.stderr.strip().splitlines() == [
            f"error: cannot listen on 127.0.0.1:{port} (Address already in use): stop what uses it, or pass "
            "--port with another port"
        ]

        process.send_signal(stop_signal)
        rest, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert rest.strip().splitlines()[-1] == "local AWS emulator stopped"
