"""`invoke deploy-image` and the image rules of `invoke deploy`, against moto's real server on 127.0.0.1.

Templates are small SQS ones with the app stack's image parameters: these tests are about which parameter a
deploy moves and which it keeps; test_pipelines_emulated.py plays the product's stacks and buildspecs.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from lifecycle.deploy import deploy_image, is_ancestor
from lifecycle.errors import LifecycleError
from lifecycle.stacks import Stacks, stack_parameters
from tests.lifecycle_support import (
    PROJECT_ROOT,
    aws_for,
    fake_credentials,
    moto_server,
    quiet_progress,
    reset,
)
from troposphere_templates.config import IMAGE_TAG_PARAMETERS, ProjectConfig

CONFIG = ProjectConfig()


def images_template(*parameters: str) -> str:
    return json.dumps(
        {
            "Parameters": {name: {"Type": "String"} for name in parameters},
            "Resources": {
                "Queue": {
                    "Type": "AWS::SQS::Queue",
                    "Properties": {"QueueName": {"Fn::Join": ["-", [{"Ref": p} for p in parameters]]}},
                }
            },
        }
    )


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def endpoint(server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    reset(server)
    fake_credentials(monkeypatch)
    return server


def test_deploy_image_moves_its_own_parameter_and_keeps_the_others(endpoint):
    aws = aws_for(endpoint)
    stacks = Stacks(aws, quiet_progress()[0], poll_seconds=0.05)
    values = {"ApiImageTag": "a1", "AuthorizerImageTag": "b1", "AdminUsername": "admin"}
    assert set(IMAGE_TAG_PARAMETERS.values()) < set(values)
    stacks.deploy(CONFIG.app_stack, images_template(*values), dict(values), {})

    line = deploy_image(CONFIG, aws, "authorizer", "b2", quiet_progress()[0], poll_seconds=0.05)

    assert line.startswith(f"{CONFIG.app_stack}: AuthorizerImageTag b1 -> b2: updated in ")
    parameters = stack_parameters(stacks.describe(CONFIG.app_stack) or {})
    assert parameters == {"ApiImageTag": "a1", "AuthorizerImageTag": "b2", "AdminUsername": "admin"}
    again = deploy_image(CONFIG, aws, "authorizer", "b2", quiet_progress()[0], poll_seconds=0.05)
    assert again.startswith(f"{CONFIG.app_stack}: AuthorizerImageTag b2 -> b2: up to date in ")


def test_deploy_image_without_the_stack_deploys_nothing_and_says_so(endpoint):
    line = deploy_image(CONFIG, aws_for(endpoint), "api", "a1", quiet_progress()[0], poll_seconds=0.05)
    assert line == (
        f"{CONFIG.app_stack} does not exist (yet): ecs1:api-a1 is pushed but not deployed; "
        "`invoke deploy` creates the stack"
    )


def test_a_stack_from_before_one_parameter_per_image_is_one_line_to_act_on(endpoint):
    aws = aws_for(endpoint)
    Stacks(aws, quiet_progress()[0], poll_seconds=0.05).deploy(
        CONFIG.app_stack, images_template("ImageTag"), {"ImageTag": "old"}, {}
    )
    with pytest.raises(LifecycleError) as raised:
        deploy_image(CONFIG, aws, "api", "a1", quiet_progress()[0], poll_seconds=0.05)
    assert str(raised.value) == (
        f"{CONFIG.app_stack} has no parameter ApiImageTag, AuthorizerImageTag to keep or move (deployed "
        "before the stack had one parameter per image): run `invoke deploy` once from a checkout"
    )


def test_commit_order_comes_from_git_history():
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    parent = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD~1"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert is_ancestor(parent, head) is True
    assert is_ancestor(head, head) is True
    assert is_ancestor(head, parent) is False
    assert is_ancestor("0000000", head) is None  # a commit this checkout does not know
