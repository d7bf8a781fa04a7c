"""`invoke build` / `invoke push` and lifecycle/images.py.

No Docker engine runs here. The first tests run the real tasks against the real docker client with no
engine behind it. The others put tests/stand_in_docker.py first on PATH as `docker` (it records its
arguments and stdin, fails on request, and pushes manifests to ECR) because an engine cannot exist here;
ECR is moto's real server.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from lifecycle.aws import Aws
from lifecycle.errors import LifecycleError
from lifecycle.images import (
    NO_DOCKER_CLIENT,
    NO_DOCKER_ENGINE,
    already_pushed,
    build_images,
    image_tag,
    push_images,
)
from tests import stand_in_docker
from tests.support import free_port

pytestmark = pytest.mark.slow  # see conftest.py

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def run_invoke(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def env_without_aws(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS1_", "DOCKER_"))}
    # Nothing may reach AWS before the Docker check: an endpoint that refuses connections would show it.
    env.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", AWS_DEFAULT_REGION="us-east-1")
    env.update(overrides)
    return env


def no_engine_env() -> dict[str, str]:
    """The docker client of this machine with no engine behind it (also where a laptop's engine runs)."""
    return env_without_aws(DOCKER_HOST=f"unix://{PROJECT_ROOT}/no-such-docker.sock")


@pytest.mark.parametrize(
    "task", [["build"], ["push"], ["build", "--target", "authorizer", "--tag", "abc1234"]]
)
@pytest.mark.skipif(
    shutil.which("docker") is None,
    reason="needs the real docker client without an engine; with no client at all, "
    "test_without_a_docker_client_the_task_says_so covers the task",
)
def test_without_a_docker_engine_the_task_stops_at_once_with_one_line(task: list[str]) -> None:
    result = run_invoke(*task, env=no_engine_env())

    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"error: {NO_DOCKER_ENGINE}"]


def test_without_a_docker_client_the_task_says_so(tmp_path: Path) -> None:
    result = run_invoke("build", env=env_without_aws(PATH=str(tmp_path)))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"error: {NO_DOCKER_CLIENT}"]


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in docker client first on PATH; returns the file its calls are recorded in."""
    environment = stand_in_docker.install(tmp_path / "docker", {"PATH": os.environ["PATH"]})
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FAKE_DOCKER_FAIL", raising=False)
    return Path(environment["FAKE_DOCKER_LOG"])


def docker_calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_invoke_build_builds_both_targets_for_the_platform_and_streams_docker_output(
    fake_docker: Path,
) -> None:
    result = run_invoke("build", "--tag", "abc1234", "--architecture", "X86_64", env=env_without_aws())

    assert result.returncode == 0, result.stderr
    builds = [call["argv"] for call in docker_calls(fake_docker) if call["argv"][0] == "build"]
    assert builds == [
        [
            "build",
            "--target",
            target,
            "--platform",
            "linux/amd64",
            "--provenance=false",
            "--tag",
            f"ecs1:{target}-abc1234",
            "--file",
            str(PROJECT_ROOT / "Dockerfile"),
            str(PROJECT_ROOT),
        ]
        for target in ("api", "authorizer")
    ]
    assert "fake docker: build --target api" in result.stdout  # docker's own output streams through
    assert result.stdout.strip().splitlines()[-1] == (
        "built ecs1:api-abc1234 and ecs1:authorizer-abc1234 for linux/amd64"
    )


def test_build_defaults_to_arm64_and_the_commit_tag(fake_docker: Path) -> None:
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    commit = (
        git.stdout.strip() if git.returncode == 0 else "latest"
    )  # a source zip, as in CodeBuild, has no .git
    assert image_tag() == commit
    result = run_invoke("build", "--target", "api", env=env_without_aws())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"built ecs1:api-{commit} for linux/arm64"


def test_build_follows_the_pipeline_config_variables(fake_docker: Path) -> None:
    """The pipelines' CodeBuild projects pass the deploy's config as ECS1_* variables."""
    env = env_without_aws(ECS1_ARCHITECTURE="X86_64", ECS1_ECR_REPOSITORY="team/ecs1")
    result = run_invoke("build", "--tag", "abc1234", "--target", "api", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "built team/ecs1:api-abc1234 for linux/amd64"


def test_a_failing_docker_build_ends_with_one_error_line(fake_docker: Path) -> None:
    result = run_invoke("build", "--tag", "abc1234", env=env_without_aws(FAKE_DOCKER_FAIL="build"))

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: `docker build` failed with exit code 1: its output is above"
    )
    assert len([c for c in docker_calls(fake_docker) if c["argv"][0] == "build"]) == 1  # stopped at the first


@pytest.mark.parametrize("bad", [["--architecture", "SPARC"], ["--target", "worker"]])
def test_bad_options_are_one_line_errors(fake_docker: Path, bad: list[str]) -> None:
    result = run_invoke("build", *bad, env=env_without_aws())
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and bad[1] in line


@pytest.fixture
def ecr(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    try:
        yield Aws(region="us-east-1")
    finally:
        server.stop()


def new_repository(ecr: Aws) -> tuple[str, str]:
    # moto's state is shared by the whole test process: a name of its own avoids meeting other tests' "ecs1".
    name = f"ecs1-{uuid.uuid4().hex[:8]}"
    created = ecr.client("ecr").create_repository(repositoryName=name, imageTagMutability="IMMUTABLE")
    return name, created["repository"]["repositoryUri"]


def test_push_logs_in_through_stdin_then_tags_and_pushes_both_images(fake_docker: Path, ecr: Aws) -> None:
    name, uri = new_repository(ecr)
    registry = uri.split("/")[0]
    token = ecr.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode().partition(":")[2]
    build_images("abc1234", name, "linux/arm64", echo=lambda line: None)
    progress: list[str] = []

    pushed = push_images("abc1234", name, ecr, echo=progress.append)

    assert pushed == [f"{uri}:api-abc1234", f"{uri}:authorizer-abc1234"]
    calls = docker_calls(fake_docker)[3:]  # after the build: info, build api, build authorizer
    assert [call["argv"] for call in calls] == [
        ["info"],
        ["image", "inspect", "--format", "{{.Id}}", f"{name}:api-abc1234"],
        ["login", "--username", "AWS", "--password-stdin", registry],
        ["tag", f"{name}:api-abc1234", f"{uri}:api-abc1234"],
        ["push", f"{uri}:api-abc1234"],
        ["image", "inspect", "--format", "{{.Id}}", f"{name}:authorizer-abc1234"],
        ["tag", f"{name}:authorizer-abc1234", f"{uri}:authorizer-abc1234"],
        ["push", f"{uri}:authorizer-abc1234"],
    ]
    assert calls[2]["stdin"] == password
    assert not any(password in " ".join(call["argv"]) for call in calls)  # never on a command line
    assert progress == [
        f"logging in to {registry}",
        f"pushing {uri}:api-abc1234",
        f"pushing {uri}:authorizer-abc1234",
    ]
    tags = ecr.client("ecr").list_images(repositoryName=name)["imageIds"]
    assert sorted(t["imageTag"] for t in tags) == ["api-abc1234", "authorizer-abc1234"]


def test_pushing_an_image_the_repository_has_under_its_tag_is_success(fake_docker: Path, ecr: Aws) -> None:
    """A retried push (the same image, the same tag) changes nothing and says so."""
    name, uri = new_repository(ecr)
    build_images("abc1234", name, "linux/arm64", ["api"], echo=lambda line: None)
    push_images("abc1234", name, ecr, ["api"], echo=lambda line: None)
    progress: list[str] = []

    assert push_images("abc1234", name, ecr, ["api"], echo=progress.append) == [f"{uri}:api-abc1234"]
    assert progress == [f"{uri}:api-abc1234: already in ECR with the same content"]
    assert [call["argv"][0] for call in docker_calls(fake_docker)].count("push") == 1


def test_pushing_other_content_under_an_existing_tag_is_one_clear_error(fake_docker: Path, ecr: Aws) -> None:
    """A rebuild is never byte-identical: under an immutable tag it cannot replace what was pushed."""
    name, uri = new_repository(ecr)
    build_images("abc1234", name, "linux/arm64", ["api"], echo=lambda line: None)
    push_images("abc1234", name, ecr, ["api"], echo=lambda line: None)
    build_images("abc1234", name, "linux/arm64", ["api"], echo=lambda line: None)

    with pytest.raises(LifecycleError) as raised:
        push_images("abc1234", name, ecr, ["api"], echo=lambda line: None)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{uri}:api-abc1234 already exists in ECR with different content (sha256:")
    assert message.endswith("its tags are immutable: push from a new commit (the tag is the commit)")
    assert [call["argv"][0] for call in docker_calls(fake_docker)].count("push") == 1


def test_build_missing_only_skips_the_images_already_pushed(fake_docker: Path, ecr: Aws) -> None:
    name, uri = new_repository(ecr)
    build_images("abc1234", name, "linux/arm64", ["api"], echo=lambda line: None)
    push_images("abc1234", name, ecr, ["api"], echo=lambda line: None)
    progress: list[str] = []

    built = build_images(
        "abc1234", name, "linux/arm64", echo=progress.append, pushed=already_pushed(name, ecr)
    )

    assert built == [f"{name}:authorizer-abc1234"]
    assert progress[0] == f"{name}:api-abc1234: already pushed, not built again"
    builds = [call["argv"] for call in docker_calls(fake_docker) if call["argv"][0] == "build"]
    assert [argv[argv.index("--target") + 1] for argv in builds] == ["api", "authorizer"]


def test_push_of_an_image_never_built_says_to_build_it(fake_docker: Path, ecr: Aws) -> None:
    name, _ = new_repository(ecr)
    with pytest.raises(
        LifecycleError, match=rf"^no image {name}:api-abc1234 was built here: run `invoke build"
    ):
        push_images("abc1234", name, ecr, ["api"])


def test_push_to_a_full_uri_needs_no_lookup_and_no_retag(fake_docker: Path, ecr: Aws) -> None:
    name, uri = new_repository(ecr)
    build_images("abc1234", uri, "linux/arm64", ["authorizer"], echo=lambda line: None)
    push_images("abc1234", uri, ecr, ["authorizer"], echo=lambda line: None)
    argv = [call["argv"][0] for call in docker_calls(fake_docker)]
    assert argv == ["info", "build", "info", "image", "login", "push"]


def test_push_to_a_repository_that_does_not_exist_says_what_to_do(fake_docker: Path, ecr: Aws) -> None:
    missing = f"ecs1-{uuid.uuid4().hex[:8]}"
    with pytest.raises(
        LifecycleError, match=rf"ECR repository '{missing}' does not exist in us-east-1: `invoke deploy`"
    ):
        push_images("abc1234", missing, ecr)
    assert [call["argv"] for call in docker_calls(fake_docker)] == [["info"]]  # nothing pushed
