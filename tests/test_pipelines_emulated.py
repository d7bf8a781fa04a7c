"""The three pipelines played against the local AWS emulator as AWS runs them, each build under its own build
role with IAM enforced.

Real parts: the repository's buildspecs, run command by command in bash on the commit's files without .git
(what CodeBuild gets from the source action), with the environment variables of the rendered CodeBuild
project and the temporary credentials of the build role that CloudFormation made from the rendered pipeline
template (sts:AssumeRole); moto's server with IAM enforcement on (`/moto-api/reset-auth`), so every AWS call
of every invoke task is checked against that role's policy, on the repository or stack it acts on
(local_aws/iam_resources.py). What cannot exist here: an AWS account, GitHub and CodePipeline's own machinery
(the test starts the builds a push would start, using the templates' trigger file paths), and a Docker
engine: tests/stand_in_docker.py builds images with a new id each time, as real builds differ, and pushes
their manifest with ECR's PutImage (the layer uploads of a real push are not emulated). CodeBuild's install
phase is skipped: this machine has the dependencies.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

import local_aws
from local_aws import stacks as emulated_stacks
from tests import stand_in_docker
from tests.lifecycle_support import ACCOUNT_ID, REGION, aws_env, client
from tests.pipelines_support import PROJECT_ROOT, codebuild_environment, push_starts, source_zip, start_build
from troposphere_templates.config import IMAGE_TAG_PARAMETERS, PIPELINE_KINDS, ProjectConfig

pytestmark = pytest.mark.slow  # see conftest.py

CONFIG = ProjectConfig()
APP_STACK = CONFIG.app_stack
WAITING = f"{APP_STACK} is UPDATE_IN_PROGRESS: waiting for it to finish first"
# Test-only principal of the emulated account: it plays the laptop and reads what the builds did.
HARNESS_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def enforce_iam(endpoint: str, on: bool) -> None:
    """moto authenticates and authorizes every call after this many unauthenticated ones: 0, or never."""
    httpx.post(
        f"{endpoint}/moto-api/reset-auth", content=b"0" if on else b"inf", timeout=10
    ).raise_for_status()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this repository whose last commit is the working tree as it is now."""
    root = tmp_path_factory.mktemp("github") / "ecs1"
    git(PROJECT_ROOT, "clone", "--quiet", "--no-hardlinks", str(PROJECT_ROOT), str(root))
    listed = git(PROJECT_ROOT, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    for path in listed:
        if (PROJECT_ROOT / path).is_file():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / path, root / path)
        elif (root / path).exists():
            (root / path).unlink()
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "--allow-empty", "-m", "the working tree under test")
    return root


class Account:
    """The emulated account after `invoke deploy`, with IAM enforced: a harness user that may do anything,
    and each pipeline's build role."""

    def __init__(self, endpoint: str, repo: Path, tmp: Path):
        self.endpoint, self.repo, self.tmp = endpoint, repo, tmp
        iam = client(endpoint, "iam")
        iam.create_user(UserName="harness")
        iam.put_user_policy(UserName="harness", PolicyName="all", PolicyDocument=json.dumps(HARNESS_POLICY))
        key = iam.create_access_key(UserName="harness")["AccessKey"]
        self.harness = {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }
        self.build_roles: dict[str, str] = {}
        self.credentials: dict[str, dict[str, str]] = {}
        cfn, sts = client(endpoint, "cloudformation"), client(endpoint, "sts")
        for kind, stack in CONFIG.pipeline_stacks.items():
            role = cfn.describe_stack_resource(StackName=stack, LogicalResourceId="BuildRole")
            self.build_roles[kind] = role["StackResourceDetail"]["PhysicalResourceId"]
            arn = iam.get_role(RoleName=self.build_roles[kind])["Role"]["Arn"]
            self.credentials[kind] = sts.assume_role(RoleArn=arn, RoleSessionName=f"codebuild-{kind}")[
                "Credentials"
            ]

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.harness["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.harness["AWS_SECRET_ACCESS_KEY"],
        )

    def pipeline_template(self, kind: str) -> dict[str, Any]:
        return json.loads((self.repo / "build" / "templates" / f"{kind}-pipeline.json").read_text())

    def start(self, kind: str, commit: str, run: str) -> Build:
        """Start `kind`'s build of `commit`, as its pipeline would on a push."""
        source = source_zip(self.repo, commit, self.tmp / run / kind / "src")
        environment = codebuild_environment(
            self.pipeline_template(kind), ACCOUNT_ID, REGION, commit, self.endpoint, self.credentials[kind]
        )
        return Build(kind, start_build(kind, source, environment, self.tmp / run / kind / "docker"))

    def stack(self) -> dict[str, Any]:
        return self.client("cloudformation").describe_stacks(StackName=APP_STACK)["Stacks"][0]

    def image_parameters(self) -> dict[str, str]:
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in self.stack()["Parameters"]}
        return {target: parameters[name] for target, name in IMAGE_TAG_PARAMETERS.items()}

    def stack_events(self) -> list[tuple[str, str]]:
        """The app stack's own events (not its resources'), oldest first."""
        events = self.client("cloudformation").describe_stack_events(StackName=APP_STACK)["StackEvents"]
        return [
            (e["ResourceStatus"], e["EventId"])
            for e in reversed(events)
            if e["LogicalResourceId"] == APP_STACK
        ]

    def running_images(self) -> dict[str, str]:
        """The images that actually run: the ECS service's task definition's and the Lambda function's."""
        ecs = self.client("ecs")
        service = ecs.describe_services(cluster=CONFIG.cluster_name, services=[CONFIG.service_name])[
            "services"
        ][0]
        task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        # moto's Lambda API miscomputes the signature it checks when IAM is enforced: read it without.
        enforce_iam(self.endpoint, False)
        try:
            function = self.client("lambda").get_function(FunctionName=CONFIG.authorizer_function_name)
        finally:
            enforce_iam(self.endpoint, True)
        return {
            "api": task["containerDefinitions"][0]["image"].rpartition(":")[2],
            "authorizer": function["Code"]["ImageUri"].rpartition(":")[2],
        }


class Build:
    """A running buildspec; its output is read as it comes, so a test can wait for a line."""

    def __init__(self, kind: str, process: subprocess.Popen):
        self.kind, self.process = kind, process
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(process.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(process.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def printed(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def finish(self) -> Build:
        self.process.wait(timeout=600)
        for reader in self._readers:
            reader.join(timeout=10)
        return self

    @property
    def stderr(self) -> str:
        return "\n".join(self.errors)

    @property
    def output(self) -> str:
        return "\n".join(self.lines) + "\n" + self.stderr


@pytest.fixture(scope="module")
def account(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    with local_aws.running() as endpoint:
        laptop = stand_in_docker.install(
            tmp_path_factory.mktemp("laptop-docker"),
            {**aws_env(endpoint), "PYTHONPATH": str(repo), "PYTHONUNBUFFERED": "1"},
        )
        deployed = subprocess.run(
            [sys.executable, "-m", "invoke", "deploy", "--connection-arn", local_aws.LOCAL_CONNECTION_ARN],
            cwd=repo,
            env=laptop,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        created = Account(endpoint, repo, tmp_path_factory.mktemp("builds"))
        enforce_iam(endpoint, True)
        try:
            yield created
        finally:
            enforce_iam(endpoint, False)
            emulated_stacks.hold_operations(None)


def play(account: Account, kinds: list[str], commit: str, run: str) -> dict[str, Build]:
    """The builds a push starts, all at once (CodePipeline runs different pipelines concurrently)."""
    builds = {kind: account.start(kind, commit, run) for kind in kinds}
    return {kind: build.finish() for kind, build in builds.items()}


def test_right_after_invoke_deploy_the_first_runs_of_all_three_pipelines_succeed_and_change_nothing(account):
    """Each pipeline starts once when it is created, at the commit `invoke deploy` just pushed."""
    commit = git(account.repo, "rev-parse", "HEAD")
    before = (account.image_parameters(), account.stack_events())
    assert before[0] == dict.fromkeys(IMAGE_TAG_PARAMETERS, commit[:7])

    builds = play(account, list(PIPELINE_KINDS), commit, "first")

    for build in builds.values():
        assert build.process.returncode == 0, build.output
    for target, kind in (("api", "update"), ("authorizer", "update-lambda")):
        assert f"ecs1:{target}-{commit[:7]}: already pushed, not built again" in builds[kind].output
        assert f"/ecs1:{target}-{commit[:7]}: already in ECR" in builds[kind].output
        assert builds[kind].lines[-1].endswith(": up to date in " + builds[kind].lines[-1].rsplit(" ", 1)[1])
    assert builds["create"].lines[-1].startswith("deploy succeeded in ")
    assert (account.image_parameters(), account.stack_events()) == before  # not one deployment


def change_app_authorizer_and_templates(repo: Path) -> str:
    """One commit touching the API's code, the authorizer's and the templates (a visible setting)."""
    for path in ("app/core/db.py", "app/authorizer.py"):
        with open(repo / path, "a") as source:
            source.write("\n# a change\n")
    config = repo / "troposphere_templates" / "config.py"
    config.write_text(
        config.read_text().replace("log_retention_days: int = 14", "log_retention_days: int = 30")
    )
    git(repo, "commit", "--quiet", "-am", "app, authorizer and templates")
    return git(repo, "rev-parse", "HEAD")


def test_one_commit_through_all_three_pipelines_deploys_once_each_never_twice_at_once(account):
    base = git(account.repo, "rev-parse", "HEAD")
    commit = change_app_authorizer_and_templates(account.repo)
    changed = git(account.repo, "diff", "--name-only", base, commit).splitlines()
    assert [k for k in PIPELINE_KINDS if push_starts(account.pipeline_template(k), changed)] == list(
        PIPELINE_KINDS
    )
    events_before = len(account.stack_events())

    # As on AWS, a stack update takes a while: whichever pipeline's update reaches the stack first holds it
    # until the other two, started with it by the same push, have found it in progress and wait.
    gate = threading.Event()
    emulated_stacks.hold_operations(gate)
    try:
        builds = {kind: account.start(kind, commit, "second") for kind in PIPELINE_KINDS}
        while sum(b.printed(WAITING) for b in builds.values()) < 2 and all(
            b.running for b in builds.values()
        ):
            threading.Event().wait(0.1)
    finally:
        emulated_stacks.hold_operations(None)
        gate.set()
    finished = {kind: build.finish() for kind, build in builds.items()}

    for build in finished.values():
        assert build.process.returncode == 0, build.output
        assert "Traceback" not in build.output
    assert sum(WAITING in build.output for build in finished.values()) >= 2
    tag = commit[:7]
    assert (
        finished["update"].lines[-1].startswith(f"{APP_STACK}: ApiImageTag {base[:7]} -> {tag}: updated in ")
    )
    assert (
        finished["update-lambda"]
        .lines[-1]
        .startswith(f"{APP_STACK}: AuthorizerImageTag {base[:7]} -> {tag}: updated in ")
    )
    assert "(updated: ecs1-app)" in finished["create"].lines[-1]

    # The stack names what runs, and what runs is this commit's images, with this commit's template.
    assert account.image_parameters() == dict.fromkeys(IMAGE_TAG_PARAMETERS, tag)
    assert account.running_images() == {"api": f"api-{tag}", "authorizer": f"authorizer-{tag}"}
    template = account.client("cloudformation").get_template(StackName=APP_STACK)["TemplateBody"]
    assert template["Resources"]["ApiLogGroup"]["Properties"]["RetentionInDays"] == 30

    # Three deployments, one after the other: each began after the one before had ended.
    statuses = [status for status, _ in account.stack_events()[events_before:]]
    assert statuses.count("UPDATE_IN_PROGRESS") == 3
    open_operation = False
    for status in statuses:
        if status == "UPDATE_IN_PROGRESS":
            assert not open_operation, statuses
            open_operation = True
        elif status == "UPDATE_COMPLETE":
            open_operation = False
    images = account.client("ecr").describe_images(repositoryName=CONFIG.ecr_repository)["imageDetails"]
    assert sorted(t for image in images for t in image.get("imageTags", []) if t.endswith(tag)) == [
        f"api-{tag}",
        f"authorizer-{tag}",
    ]

    # A laptop deploy from the older checkout does not roll the images back.
    git(account.repo, "checkout", "--quiet", base)
    try:
        laptop = stand_in_docker.install(
            account.tmp / "laptop-docker",
            {**aws_env(account.endpoint), **account.harness, "PYTHONPATH": str(account.repo)},
        )
        result = subprocess.run(
            [sys.executable, "-m", "invoke", "deploy", "--stack", "app"],
            cwd=account.repo,
            env=laptop,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        git(account.repo, "checkout", "--quiet", "-")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"ApiImageTag: keeping {tag}, which is newer than this checkout's {base[:7]} (no rollback)"
        in result.stdout
    )
    assert account.image_parameters() == dict.fromkeys(IMAGE_TAG_PARAMETERS, tag)
    assert account.running_images() == {"api": f"api-{tag}", "authorizer": f"authorizer-{tag}"}


def test_a_permission_missing_from_a_build_role_fails_its_build(account):
    """The enforcement is real: without ecr:DescribeRepositories (the call today's roles lacked), the update
    build stops at its first command with AccessDenied."""
    iam = account.client("iam")
    role = account.build_roles["update"]
    [name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    policy = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    document = json.loads(policy) if isinstance(policy, str) else policy
    trimmed = json.loads(json.dumps(document))
    for statement in trimmed["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != "ecr:DescribeRepositories"]
    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(trimmed))
    try:
        build = account.start("update", git(account.repo, "rev-parse", "HEAD"), "denied").finish()
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    assert build.process.returncode != 0
    assert "AccessDenied" in build.stderr and "ecr:DescribeRepositories" in build.stderr
