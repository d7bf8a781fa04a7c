"""Stacks, prerequisites and clean-up against moto's real server on 127.0.0.1 (there is no AWS account here).

Templates are small ones of types moto supports natively (SQS queues): these tests are about the lifecycle's
handling of stack states, change sets, pagination and idempotence; test_e2e_* deploys the product's templates.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lifecycle.clean import clean
from lifecycle.confirm import confirm
from lifecycle.deploy import deploy
from lifecycle.errors import LifecycleError
from lifecycle.prerequisites import delete_bucket, ensure_bucket, ensure_repository, missing_image_tags
from lifecycle.stacks import Stacks
from tests.lifecycle_support import (
    BUCKET,
    aws_for,
    put_image,
    queue_template,
    quiet_progress,
)
from troposphere_templates.config import ProjectConfig

pytestmark = pytest.mark.slow  # see conftest.py (deploys stacks on the emulator)

PAGE = 10  # list and delete this many versions a call, so a few objects span several pages


def test_create_then_up_to_date_then_update(endpoint):
    aws = aws_for(endpoint)
    progress, out = quiet_progress()
    stacks = Stacks(aws, progress, poll_seconds=0.05)

    created = stacks.deploy("ecs1-app", queue_template(), {"Name": "first"}, {"project": "ecs1"})
    assert created.outcome == "created"
    # Plain moto records no resource events, so the table has no rows: the announcement says what happens.
    assert "ecs1-app: creating (1 resource change(s))" in out.getvalue()
    assert stacks.describe("ecs1-app")["StackStatus"] == "CREATE_COMPLETE"

    same = stacks.deploy("ecs1-app", queue_template(), {"Name": "first"}, {"project": "ecs1"})
    assert same.outcome == "up to date"
    cfn = aws.client("cloudformation")
    assert len(cfn.list_change_sets(StackName="ecs1-app")["Summaries"]) <= 1, "no change set for no change"

    changed = stacks.deploy("ecs1-app", queue_template(), {"Name": "second"}, {"project": "ecs1"})
    assert changed.outcome == "updated"
    assert stacks.describe("ecs1-app")["StackStatus"] == "UPDATE_COMPLETE"
    assert {p["ParameterValue"] for p in stacks.describe("ecs1-app")["Parameters"]} == {"second"}


YAML_TEMPLATE = """
Resources:
  Queue:
    Type: AWS::SQS::Queue
"""


def test_an_empty_change_set_is_up_to_date_and_deleted(endpoint):
    """YAML bodies are not compared locally, so CloudFormation's own "no changes" answer is exercised."""
    aws = aws_for(endpoint)
    progress, _ = quiet_progress()
    stacks = Stacks(aws, progress, poll_seconds=0.05)
    assert stacks.deploy("ecs1-app", YAML_TEMPLATE, {}, {}).outcome == "created"
    cfn = aws.client("cloudformation")
    before = cfn.list_change_sets(StackName="ecs1-app")["Summaries"]
    assert stacks.deploy("ecs1-app", YAML_TEMPLATE, {}, {}).outcome == "up to date"
    assert cfn.list_change_sets(StackName="ecs1-app")["Summaries"] == before


def test_a_parameter_left_to_its_default_again_is_a_change(endpoint):
    aws = aws_for(endpoint)
    progress, _ = quiet_progress()
    stacks = Stacks(aws, progress, poll_seconds=0.05)
    stacks.deploy("ecs1-app", queue_template("default-name"), {"Name": "explicit"}, {})
    assert stacks.deploy("ecs1-app", queue_template("default-name"), {}, {}).outcome == "updated"


def test_a_stack_with_only_an_unexecuted_change_set_is_recreated(endpoint):
    aws = aws_for(endpoint)
    aws.client("cloudformation").create_change_set(
        StackName="ecs1-app", ChangeSetName="abandoned", ChangeSetType="CREATE", TemplateBody=queue_template()
    )
    progress, out = quiet_progress()
    result = Stacks(aws, progress, poll_seconds=0.05).deploy("ecs1-app", queue_template(), {}, {})
    assert result.outcome == "created"
    assert "ecs1-app is REVIEW_IN_PROGRESS" in out.getvalue()
    assert "deleting it before creating it again" in out.getvalue()


def test_a_large_template_goes_through_the_bucket(endpoint):
    aws = aws_for(endpoint)
    ensure_bucket(aws, BUCKET, {})
    # Many queues push the body over CloudFormation's 51,200-byte TemplateBody limit.
    queues = {
        f"Queue{i}": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"q{i}-" + "x" * 60}}
        for i in range(400)
    }
    body = queue_template(extra=queues)
    assert len(body) > 51_200
    progress, _ = quiet_progress()
    assert Stacks(aws, progress, poll_seconds=0.05).deploy("big", body, {}, {}, BUCKET).outcome == "created"
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("templates/big/")


def test_delete_of_an_absent_stack_says_so(endpoint):
    progress, _ = quiet_progress()
    assert Stacks(aws_for(endpoint), progress).delete("ecs1-app").outcome == "absent"


def test_prerequisites_are_created_as_specified_and_kept(endpoint):
    aws = aws_for(endpoint)
    created = ensure_repository(aws, "ecs1", {"project": "ecs1"})
    assert created.endswith("created (scan on push, immutable tags, keeps 20 images of each kind)")
    assert ensure_repository(aws, "ecs1", {"project": "ecs1"}) == "ECR repository ecs1: exists"
    repo = aws.client("ecr").describe_repositories(repositoryNames=["ecs1"])["repositories"][0]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    assert repo["imageTagMutability"] == "IMMUTABLE"
    policy = json.loads(aws.client("ecr").get_lifecycle_policy(repositoryName="ecs1")["lifecyclePolicyText"])
    assert [rule["selection"].get("tagPrefixList") for rule in policy["rules"]] == [
        ["api-"],
        ["authorizer-"],
        None,
    ]

    assert "created" in ensure_bucket(aws, BUCKET, {"project": "ecs1"})
    assert "exists" in ensure_bucket(aws, BUCKET, {"project": "ecs1"})
    s3 = aws.client("s3")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4


def test_missing_image_tags(endpoint):
    aws = aws_for(endpoint)
    ensure_repository(aws, "ecs1", {})
    put_image(endpoint, "api-abc123")
    assert missing_image_tags(aws, "ecs1", ["api-abc123", "authorizer-abc123"]) == ["authorizer-abc123"]


def test_a_bucket_with_more_versions_than_one_page_is_emptied_and_deleted(endpoint):
    """Pagination proven with a small page (S3's limit is 1,000 a call): 40 entries take four pages."""
    aws = aws_for(endpoint)
    ensure_bucket(aws, BUCKET, {})
    s3 = aws.client("s3")
    keys = [f"artifacts/{i % 10}.zip" for i in range(30)]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    # Deleting without a version id adds a delete marker on top of the versions.
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in sorted(set(keys))]})
    listing = s3.list_object_versions(Bucket=BUCKET, MaxKeys=PAGE)
    assert listing["IsTruncated"], "more than one page to delete"

    expected = f"deleted bucket {BUCKET} (30 object version(s), 10 delete marker(s))"
    assert str(delete_bucket(aws, BUCKET, page_size=PAGE)) == expected
    assert BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert str(delete_bucket(aws, BUCKET)) == f"nothing to delete: no bucket {BUCKET}"


def test_clean_deletes_what_deploy_made_and_a_second_run_finds_nothing(endpoint):
    aws = aws_for(endpoint)
    config = ProjectConfig(connection_arn="arn:aws:codeconnections:us-east-1:123456789012:connection/abc")
    ensure_repository(aws, "ecs1", {})
    put_image(endpoint, "api-abc123")
    ensure_bucket(aws, BUCKET, {})
    aws.client("s3").put_object(Bucket=BUCKET, Key="a", Body=b"1")
    progress, out = quiet_progress()
    Stacks(aws, progress, poll_seconds=0.05).deploy("ecs1-update-pipeline", queue_template(), {}, {})

    first = clean(config, aws, yes=True, progress=progress, poll_seconds=0.05)
    assert first.startswith("clean complete: stack ecs1-update-pipeline, ECR repository ecs1, bucket ")
    assert first.endswith(f"the GitHub connection {config.connection_arn}")
    assert "nothing to delete: no stack ecs1-app" in out.getvalue()

    progress, out = quiet_progress()
    second = clean(ProjectConfig(), aws, yes=True, progress=progress, poll_seconds=0.05)
    assert second.startswith("clean complete: nothing was left to delete")
    assert second.endswith("the CodeConnections GitHub connection you created by hand")
    assert out.getvalue().count("nothing to delete") == 6


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_confirmation():
    question = "this deletes everything"
    with pytest.raises(LifecycleError, match="refusing to delete without confirmation: no terminal"):
        confirm(question, yes=False, action="delete", stdin=io.StringIO("yes\n"))
    with pytest.raises(LifecycleError, match="did not delete: not confirmed"):
        confirm(question, yes=False, action="delete", stdin=Terminal("y\n"), stdout=io.StringIO())
    shown = io.StringIO()
    confirm(question, yes=False, action="delete", stdin=Terminal("yes\n"), stdout=shown)
    assert shown.getvalue() == "this deletes everything.\nType 'yes' to continue: "
    confirm(question, yes=True, action="delete", stdin=io.StringIO(""))


def write_templates(folder: Path, image_tag: str = "abc123") -> Path:
    for kind in ("create", "update", "update-lambda"):
        (folder / f"{kind}-pipeline.json").write_text(queue_template(f"{kind}-queue"))
    (folder / "app.json").write_text(queue_template("app-queue"))
    (folder / "app-config.json").write_text(json.dumps({"Parameters": {"Name": "app-queue"}, "Tags": {}}))
    return folder


def test_deploy_without_images_and_without_docker_stops_with_one_line(endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker client on PATH
    config = ProjectConfig(image_tag="abc123")
    progress, out = quiet_progress()
    with pytest.raises(LifecycleError) as raised:
        deploy(config, aws_for(endpoint), write_templates(tmp_path), stack="app", progress=progress)
    assert str(raised.value).startswith("no Docker engine available to build the images api-abc123")
    assert "lacks api-abc123, authorizer-abc123" in out.getvalue()


def test_forcing_images_over_immutable_tags_that_exist_says_what_to_do(endpoint, tmp_path):
    aws = aws_for(endpoint)
    ensure_repository(aws, "ecs1", {})
    put_image(endpoint, "api-abc123")
    with pytest.raises(LifecycleError) as raised:
        deploy(ProjectConfig(image_tag="abc123"), aws, write_templates(tmp_path), stack="app", images=True)
    assert str(raised.value) == (
        "--images: api-abc123 already in ecs1, whose tags are immutable: "
        "commit the change (the tag is the commit) or pass --image-tag with a new tag"
    )


def test_deploy_pipelines_needs_the_connection_arn(endpoint, tmp_path):
    with pytest.raises(LifecycleError, match="the pipelines need the ARN of a CodeConnections GitHub"):
        deploy(ProjectConfig(), aws_for(endpoint), write_templates(tmp_path), stack="pipelines")


def test_deploy_all_in_order_then_up_to_date(endpoint, tmp_path):
    aws = aws_for(endpoint)
    ensure_repository(aws, "ecs1", {})
    put_image(endpoint, "api-abc123")
    put_image(endpoint, "authorizer-abc123")
    arn = "arn:aws:codeconnections:us-east-1:123456789012:connection/x"
    config = ProjectConfig(image_tag="abc123", connection_arn=arn)
    templates = write_templates(tmp_path)
    progress, out = quiet_progress()
    first = deploy(config, aws, templates, progress=progress, poll_seconds=0.05)
    assert [r.name for r in first.stacks] == [
        "ecs1-create-pipeline",
        "ecs1-update-pipeline",
        "ecs1-update-lambda-pipeline",
        "ecs1-app",
    ]
    assert {r.outcome for r in first.stacks} == {"created"}
    assert "images api-abc123, authorizer-abc123: in ecs1" in out.getvalue()
    second = deploy(config, aws, templates, progress=progress, poll_seconds=0.05)
    assert {r.outcome for r in second.stacks} == {"up to date"}
    assert second.summary().startswith("deploy succeeded in ")
    all_stacks = "ecs1-create-pipeline, ecs1-update-pipeline, ecs1-update-lambda-pipeline, ecs1-app"
    assert f"(up to date: {all_stacks})" in second.summary()
