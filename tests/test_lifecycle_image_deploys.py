"""`invoke deploy-image` and the image rules of `invoke deploy`, against moto's real server on 127.0.0.1.

Templates are small SQS ones with the app stack's image parameters: these tests are about which parameter a
deploy moves and which it keeps; test_pipelines_emulated.py plays the product's stacks and buildspecs.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

import local_aws
from lifecycle.deploy import StackPlan, deploy_image, forward_only_images, is_ancestor, keep_running_images
from lifecycle.diff import stack_diffs
from lifecycle.errors import LifecycleError
from lifecycle.stacks import Stacks, stack_parameters
from local_aws import stacks as emulated_stacks
from tests.lifecycle_support import (
    PROJECT_ROOT,
    aws_for,
    quiet_progress,
)
from troposphere_templates.config import IMAGE_TAG_PARAMETERS, ProjectConfig

pytestmark = pytest.mark.slow  # see conftest.py

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


def deployed_images_stack(endpoint: str) -> tuple[Any, Stacks, str]:
    """The emulations on, and the app stack deployed with images a1/b1 and admin `admin`."""
    local_aws.install()
    aws = aws_for(endpoint)
    stacks = Stacks(aws, quiet_progress()[0], poll_seconds=0.05)
    values = {"ApiImageTag": "a1", "AuthorizerImageTag": "b1", "AdminUsername": "admin"}
    body = images_template(*values)
    stacks.deploy(CONFIG.app_stack, body, dict(values), {})
    return aws, stacks, body


def test_a_change_set_read_before_an_image_deploy_never_runs_after_it(endpoint, monkeypatch):
    """The create pipeline keeps the images (UsePreviousValue), which CloudFormation reads when the change set
    is created. An image deploy that runs meanwhile makes that change set OBSOLETE, so the create pipeline
    computes a new one instead of putting the image it replaced back."""
    aws, stacks, body = deployed_images_stack(endpoint)
    create_change_set = emulated_stacks._original_backend_create_change_set
    image_deploys: list[str] = []

    # The emulator's own ordering is forced here: the image deploy runs from start to end between the moment
    # the create pipeline's previous values were read and the moment its change set exists.
    def image_deploy_meanwhile(backend, stack_name, change_set_name, template, parameters, *args, **kwargs):
        if parameters.get("AdminUsername") == "root" and not image_deploys:
            line = deploy_image(CONFIG, aws, "api", "a2", quiet_progress()[0], poll_seconds=0.05)
            image_deploys.append(line)
        return create_change_set(backend, stack_name, change_set_name, template, parameters, *args, **kwargs)

    monkeypatch.setattr(emulated_stacks, "_original_backend_create_change_set", image_deploy_meanwhile)
    result = stacks.deploy(CONFIG.app_stack, body, keep_running_images(CONFIG, {"AdminUsername": "root"}), {})

    assert image_deploys[0].startswith(f"{CONFIG.app_stack}: ApiImageTag a1 -> a2: updated in ")
    assert result.outcome == "updated"
    assert stack_parameters(stacks.describe(CONFIG.app_stack) or {}) == {
        "ApiImageTag": "a2",
        "AuthorizerImageTag": "b1",
        "AdminUsername": "root",
    }


def test_a_change_set_deleted_by_an_image_deploy_is_computed_again(endpoint):
    """CloudFormation deletes a stack's other change sets when one runs (ExecuteChangeSet): a deploy whose
    change set was reviewed while an image deploy ran computes a new one from the stack as it is now."""
    aws, stacks, body = deployed_images_stack(endpoint)
    reviewed: list[str] = []

    def review_while_an_image_deploys(change_set):
        if not reviewed:
            reviewed.append(deploy_image(CONFIG, aws, "api", "a2", quiet_progress()[0], poll_seconds=0.05))
        return True

    keep = keep_running_images(CONFIG, {"AdminUsername": "root"})
    result = stacks.deploy(CONFIG.app_stack, body, keep, {}, review=review_while_an_image_deploys)

    assert reviewed[0].startswith(f"{CONFIG.app_stack}: ApiImageTag a1 -> a2: updated in ")
    assert result.outcome == "updated"
    assert stack_parameters(stacks.describe(CONFIG.app_stack) or {}) == {
        "ApiImageTag": "a2",
        "AuthorizerImageTag": "b1",
        "AdminUsername": "root",
    }


def short_sha(revision: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", revision],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_diff_keeps_a_newer_running_image_as_deploy_does(endpoint):
    """`invoke diff` computes the image parameters as deploy: a checkout older than the running images shows
    no change (they are kept), and only an explicit tag would move them back."""
    aws = aws_for(endpoint)
    progress, out = quiet_progress()
    stacks = Stacks(aws, progress, poll_seconds=0.05)
    head, parent = short_sha("HEAD"), short_sha("HEAD~1")
    body = images_template(*IMAGE_TAG_PARAMETERS.values())
    stacks.deploy(CONFIG.app_stack, body, dict.fromkeys(IMAGE_TAG_PARAMETERS.values(), head), {})
    older = dict.fromkeys(IMAGE_TAG_PARAMETERS.values(), parent)

    checkout = StackPlan(CONFIG.app_stack, body, forward_only_images(older, False, progress), {})
    [kept] = stack_diffs(aws, [checkout], None, progress, poll_seconds=0.05)
    assert not kept.changed
    assert f"ApiImageTag: keeping {head}, which is newer than this checkout's {parent}" in out.getvalue()

    explicit = StackPlan(CONFIG.app_stack, body, forward_only_images(older, True, progress), {})
    [moved] = stack_diffs(aws, [explicit], None, progress, poll_seconds=0.05)
    assert moved.kind == "update"
    summaries = aws.client("cloudformation").list_change_sets(StackName=CONFIG.app_stack)["Summaries"]
    assert [s for s in summaries if s["ExecutionStatus"] == "AVAILABLE"] == [], "diff leaves no change set"
    assert stack_parameters(stacks.describe(CONFIG.app_stack) or {})["ApiImageTag"] == head


def test_commit_order_comes_from_git_history():
    head, parent = short_sha("HEAD"), short_sha("HEAD~1")
    assert is_ancestor(parent, head) is True
    assert is_ancestor(head, head) is True
    assert is_ancestor(head, parent) is False
    assert is_ancestor("0000000", head) is None  # a commit this checkout does not know


def test_every_deploy_keeps_the_restored_database_it_did_not_render(endpoint):
    """After `invoke restore` (PostgreSQL mode) the stack names the snapshot and the new instance in two
    parameters that no rendered config carries. CloudFormation gives a parameter left out of an update its
    default, which here would replace the restored instance with an empty one: a deploy from a checkout and
    the create pipeline's deploy must keep both as they are."""
    aws = aws_for(endpoint)
    stacks = Stacks(aws, quiet_progress()[0], poll_seconds=0.05)
    restored = {"DatabaseSnapshot": "ecs1-db-20261128-101500", "DatabaseInstance": "ecs1-db-r20261128102000"}
    names = ["ApiImageTag", "AuthorizerImageTag", "AdminUsername", *restored]
    body = json.loads(images_template(*names))
    body["Parameters"]["DatabaseSnapshot"]["Default"] = ""
    body["Parameters"]["DatabaseInstance"]["Default"] = "ecs1-db"
    template = json.dumps(body)
    rendered = {"ApiImageTag": "a1", "AuthorizerImageTag": "b1", "AdminUsername": "admin"}
    stacks.deploy(CONFIG.app_stack, template, {**rendered, **restored}, {})

    checkout = forward_only_images({**rendered, "AdminUsername": "root"}, True, quiet_progress()[0])
    assert stacks.deploy(CONFIG.app_stack, template, checkout, {}).outcome == "updated"
    assert stack_parameters(stacks.describe(CONFIG.app_stack) or {}) == {
        **rendered,
        "AdminUsername": "root",
        **restored,
    }
    pipeline = keep_running_images(CONFIG, {"AdminUsername": "ops"})
    assert stacks.deploy(CONFIG.app_stack, template, pipeline, {}).outcome == "updated"
    assert stack_parameters(stacks.describe(CONFIG.app_stack) or {}) == {
        **rendered,
        "AdminUsername": "ops",
        **restored,
    }
