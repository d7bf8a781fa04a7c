"""Failure paths of deploy and clean against the local AWS emulator, with the real rendered app template.

The emulator's `Local::Test::Failure` resource type (test-only, never in a template for AWS) fails on purpose
on create, update or delete; it is injected into a copy of the rendered `app.json`. States the emulator cannot
reach by itself (UPDATE_ROLLBACK_FAILED, a stack still UPDATE_IN_PROGRESS) are set directly on the in-process
moto backend that serves the HTTP API. No Docker engine exists here: image manifests are registered with
`put_image`, as in test_e2e_lifecycle.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import local_aws
from lifecycle.deploy import deploy
from lifecycle.errors import LifecycleError
from lifecycle.prerequisites import ensure_bucket
from lifecycle.progress import Progress
from local_aws.moto_adapter import emulated_stack
from tests.lifecycle_support import (
    ACCOUNT_ID,
    BUCKET,
    REGION,
    TAG,
    aws_for,
    client,
    fake_credentials,
    invoke,
    live_stacks,
    quiet_progress,
    register_images,
)
from troposphere_templates.config import ProjectConfig
from troposphere_templates.render import render_all

pytestmark = pytest.mark.slow  # see conftest.py

CONFIG = ProjectConfig(image_tag=TAG, region=REGION)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with local_aws.running() as url:
        yield url


@pytest.fixture
def endpoint(server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    httpx.post(f"{server}/moto-api/reset", timeout=10).raise_for_status()
    fake_credentials(monkeypatch)
    register_images(server)
    return server


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("rendered")
    render_all(CONFIG, folder)
    return {name: (folder / name).read_text() for name in ("app.json", "app-config.json")}


def templates_with(folder: Path, rendered: dict, failure: dict | None = None) -> Path:
    """The rendered app template and its parameters, with a failing resource added when given."""
    app = json.loads(rendered["app.json"])
    if failure:
        app["Resources"]["Boom"] = {"Type": local_aws.FAILURE_TYPE, **failure}
    (folder / "app.json").write_text(json.dumps(app))
    (folder / "app-config.json").write_text(rendered["app-config.json"])
    return folder


def deploy_app(endpoint: str, folder: Path) -> tuple[str, str]:
    """Run the app deploy; return (outcome or error line, printed output)."""
    progress, out = quiet_progress()
    try:
        result = deploy(CONFIG, aws_for(endpoint), folder, stack="app", progress=progress, poll_seconds=0.05)
    except LifecycleError as exc:
        return f"error: {exc}", out.getvalue()
    return result.summary(), out.getvalue()


def app_stack(endpoint: str) -> dict:
    return client(endpoint, "cloudformation").describe_stacks(StackName="ecs1-app")["Stacks"][0]


def test_a_create_that_fails_midway_names_the_resource_and_the_next_deploy_recreates(
    endpoint, tmp_path, rendered
):
    # DependsOn the service: the network, cluster and service exist before the failure, so rollback has work.
    failing = {"DependsOn": "Service", "Properties": {"FailOn": "Create", "Reason": "disk full"}}
    outcome, output = deploy_app(endpoint, templates_with(tmp_path, rendered, failing))
    assert outcome == (
        "error: stack ecs1-app create failed (ROLLBACK_COMPLETE): Boom (Local::Test::Failure): disk full; "
        "the next deploy deletes and recreates it; `invoke clean` removes it"
    )
    rows = [line.split()[1:4] for line in output.splitlines() if line.startswith("  ")]
    assert ["Service", "AWS::ECS::Service", "CREATE_COMPLETE"] in rows
    assert ["Service", "AWS::ECS::Service", "DELETE_COMPLETE"] in rows, "rolled back"
    assert app_stack(endpoint)["StackStatus"] == "ROLLBACK_COMPLETE"
    assert client(endpoint, "apigatewayv2").get_apis()["Items"] == [], "rolled back"

    outcome, output = deploy_app(endpoint, templates_with(tmp_path, rendered))
    assert (
        "ecs1-app is ROLLBACK_COMPLETE (its creation failed): deleting it before creating it again" in output
    )
    assert "(created: ecs1-app)" in outcome
    assert app_stack(endpoint)["StackStatus"] == "CREATE_COMPLETE"


def test_clean_removes_a_stack_whose_creation_failed(endpoint, tmp_path, rendered):
    failing = {"DependsOn": "Cluster", "Properties": {"FailOn": "Create"}}
    assert deploy_app(endpoint, templates_with(tmp_path, rendered, failing))[0].startswith("error: ")
    assert live_stacks(endpoint) == {"ecs1-app": "ROLLBACK_COMPLETE"}

    result, _ = invoke(endpoint, "clean", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deleted stack ecs1-app" in result.stdout
    assert live_stacks(endpoint) == {}


def test_an_update_that_fails_rolls_back_and_the_next_deploy_updates(endpoint, tmp_path, rendered):
    boom = {"Properties": {"FailOn": "Update", "Reason": "first"}}
    assert "(created: ecs1-app)" in deploy_app(endpoint, templates_with(tmp_path, rendered, boom))[0]

    changed = {"Properties": {"FailOn": "Update", "Reason": "quota exceeded"}}
    outcome, _ = deploy_app(endpoint, templates_with(tmp_path, rendered, changed))
    assert outcome.startswith("error: stack ecs1-app update failed (UPDATE_ROLLBACK_COMPLETE): Boom")
    assert outcome.endswith("quota exceeded; the next deploy retries; `invoke clean` removes it")

    outcome, _ = deploy_app(endpoint, templates_with(tmp_path, rendered))
    assert "(updated: ecs1-app)" in outcome
    assert app_stack(endpoint)["StackStatus"] == "UPDATE_COMPLETE"


def test_a_stack_that_needs_a_human_is_one_line_from_invoke_deploy(endpoint, tmp_path, rendered):
    assert "(created: ecs1-app)" in deploy_app(endpoint, templates_with(tmp_path, rendered))[0]
    emulated_stack(ACCOUNT_ID, REGION, "ecs1-app").status = "UPDATE_ROLLBACK_FAILED"

    result, _ = invoke(endpoint, "deploy", "--stack", "app", "--image-tag", TAG, "--out", str(tmp_path / "t"))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: stack ecs1-app is UPDATE_ROLLBACK_FAILED and needs a human: continue the rollback "
        "(`aws cloudformation continue-update-rollback --stack-name ecs1-app`, skipping the resources that "
        "block it) or remove the stack with `invoke clean`"
    )


def test_a_stack_still_in_progress_is_waited_for(endpoint, tmp_path, rendered):
    assert "(created: ecs1-app)" in deploy_app(endpoint, templates_with(tmp_path, rendered))[0]
    stack = emulated_stack(ACCOUNT_ID, REGION, "ecs1-app")
    stack.status = "UPDATE_IN_PROGRESS"

    class FinishOnceWaiting(io.StringIO):
        """Someone else's update (a pipeline run, say) finishes once deploy has said it waits for it."""

        def write(self, text: str) -> int:
            if "waiting for it to finish first" in text:
                stack.status = "UPDATE_COMPLETE"
            return super().write(text)

    out = FinishOnceWaiting()
    result = deploy(
        CONFIG,
        aws_for(endpoint),
        templates_with(tmp_path, rendered),
        stack="app",
        progress=Progress(stream=out, tty=False),
        poll_seconds=0.05,
    )
    assert "ecs1-app is UPDATE_IN_PROGRESS: waiting for it to finish first" in out.getvalue()
    assert "(up to date: ecs1-app)" in result.summary()


def test_a_stack_stuck_in_delete_failed_stops_clean_with_the_blocking_resource(endpoint, tmp_path, rendered):
    failing = {"Properties": {"FailOn": "Delete", "Reason": "bucket not empty"}}
    assert "(created: ecs1-app)" in deploy_app(endpoint, templates_with(tmp_path, rendered, failing))[0]

    result, _ = invoke(endpoint, "clean", "--yes")
    assert result.returncode == 1
    assert "ecs1-app is DELETE_FAILED: retrying the delete" in result.stdout
    assert result.stderr.strip() == (
        "error: stack ecs1-app is still DELETE_FAILED after a retry; "
        "blocked by: Boom (Local::Test::Failure): bucket not empty "
        "(remove or empty those resources, then run `invoke clean` again)"
    )
    assert live_stacks(endpoint) == {"ecs1-app": "DELETE_FAILED"}
    assert client(endpoint, "ecr").describe_repositories()["repositories"], "nothing after the app stack went"

    outcome, output = deploy_app(endpoint, templates_with(tmp_path, rendered))
    assert (
        "ecs1-app is DELETE_FAILED (an earlier delete failed): deleting it before creating it again" in output
    )
    assert outcome.startswith("error: stack ecs1-app is still DELETE_FAILED after a retry")


def test_clean_empties_a_versioned_artifact_bucket(endpoint):
    """Versions and delete markers go first, then the bucket (test_lifecycle_stacks proves the paging)."""
    aws = aws_for(endpoint)
    ensure_bucket(aws, BUCKET, {"project": "ecs1"})
    s3 = client(endpoint, "s3")
    keys = [f"ecs1-create/SourceArti/{i % 3}.zip" for i in range(9)]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"artifact")
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in sorted(set(keys))]})

    result, _ = invoke(endpoint, "clean", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"deleted bucket {BUCKET} (9 object version(s), 3 delete marker(s))" in result.stdout
    assert BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_deploy_without_images_or_docker_and_pipelines_without_connection_are_one_line(endpoint, tmp_path):
    client(endpoint, "ecr").batch_delete_image(repositoryName="ecs1", imageIds=[{"imageTag": f"api-{TAG}"}])
    no_docker, _ = invoke(endpoint, "deploy", "--stack", "app", "--image-tag", TAG, "--out", str(tmp_path))
    assert no_docker.returncode == 1
    assert no_docker.stderr.strip() == (
        f"error: no Docker engine available to build the images api-{TAG} and authorizer-{TAG}: "
        "start Docker (or push them from CI) and deploy again; "
        "against this local emulator, --stand-in-images needs no Docker"
    )
    no_connection, _ = invoke(endpoint, "deploy", "--stack", "pipelines", "--out", str(tmp_path))
    assert no_connection.returncode == 1
    assert no_connection.stderr.strip().startswith(
        "error: the pipelines need the ARN of a CodeConnections GitHub connection"
    )
